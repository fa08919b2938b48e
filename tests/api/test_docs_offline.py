"""/docs and /redoc work without the internet: every asset comes from the API itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from penguinmails.settings import Settings

BASE = "http://api.test"
# What a page makes the browser fetch: scripts, stylesheets and icons, the spec it renders.
_REFERENCES = re.compile(
    r"""<script[^>]*\ssrc="([^"]+)"|<link[^>]*\shref="([^"]+)"|spec-url="([^"]+)"|\burl:\s*'([^']+)'"""
)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_and_every_asset_are_served_by_the_api(page: str) -> None:
    app = create_app(Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        r = await client.get(page)
        assert r.status_code == 200
        html = r.text
        # No absolute URL to another host (a CDN, web fonts): they would not load offline.
        for url in re.findall(r"""https?://[^\s"'<>)]+""", html):
            assert urlsplit(url).netloc == urlsplit(BASE).netloc, url
        references = [next(g for g in m if g) for m in _REFERENCES.findall(html)]
        assert any(ref.endswith(".js") for ref in references), references
        assert "/openapi.json" in references
        for ref in references:
            asset = await client.get(ref)
            assert asset.status_code == 200, ref
            assert asset.content, ref
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.1")
