"""The message builder: structure, headers, tracking, threading, and a DKIM signature that
verifies against the record served by the loopback DNS server."""

from __future__ import annotations

import email
import os
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from devstack.dns import DnsServer, Zone
from penguinmails import tokens
from penguinmails.mail import dkim_keys
from penguinmails.mail.html_text import html_to_text
from penguinmails.mail.message import (
    DkimKey,
    MessageSpec,
    build_message,
    outbound_message_id,
)
from penguinmails.resolver import dkim_dnsfunc
from penguinmails.tokens import TokenKind

KEY = os.urandom(32)
TENANT = "5f0c6a4e-0000-4000-8000-000000000001"
DOMAIN = "mail.acme-outreach.test"
TRACK = "https://track.acme-outreach.test"
HTML = """<html><head><style>p{color:red}</style></head><body>
<p>Hi Ada,</p>
<p>Have a look at <a href="https://acme.test/pricing?plan=pro&amp;ref=mail">our pricing</a>
and <a href='https://acme.test/docs'>the docs</a>.</p>
<p><a href="mailto:sales@acme.test">Write to us</a> or <a href="#top">top</a>.</p>
<ul><li>One</li><li>Two</li></ul>
</body></html>"""


@pytest.fixture(scope="module")
def key_pair() -> dkim_keys.DkimKeyPair:
    return dkim_keys.generate_key_pair()


def spec(**overrides: object) -> MessageSpec:
    base: dict[str, object] = {
        "tenant_id": TENANT,
        "message_id": outbound_message_id(TENANT, "c1", "l1", "s1", DOMAIN),
        "from_email": f"ada@{DOMAIN}",
        "from_name": "Ada Lovelace",
        "to_email": "grace@example.org",
        "to_name": "Grace Hopper",
        "subject": "Quick question about Analytical Engines",
        "html": HTML,
        "date": datetime(2026, 3, 29, 9, 30, tzinfo=UTC),
        "tracking_base_url": TRACK,
    }
    base.update(overrides)
    return MessageSpec(**base)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def test_message_id_is_deterministic_and_on_the_sending_domain() -> None:
    a = outbound_message_id(TENANT, "c1", "l1", "s1", "Mail.Acme.test")
    assert a == outbound_message_id(TENANT, "c1", "l1", "s1", "mail.acme.test")
    assert re.fullmatch(r"<[0-9a-f]{32}\.[0-9a-f]{8}@mail\.acme\.test>", a)
    assert a != outbound_message_id(TENANT, "c1", "l1", "s2", "mail.acme.test")
    assert "l1" not in a and TENANT not in a


def test_structure_and_headers() -> None:
    built = build_message(spec(), KEY)
    assert b"\r\n" in built.raw and b"\n" not in built.raw.replace(b"\r\n", b"")
    msg = parse(built.raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == built.message_id
    assert msg["From"] == f"Ada Lovelace <ada@{DOMAIN}>"
    assert msg["To"] == "Grace Hopper <grace@example.org>"
    assert msg["Date"].datetime == datetime(2026, 3, 29, 9, 30, tzinfo=UTC)
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # List-Unsubscribe: an https URL and a mailto, each in <>, on one unfolded line.
    header = next(
        line for line in built.raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")
    )
    urls = re.findall(rb"<([^>]+)>", header)
    assert urls[0] == built.unsubscribe_url.encode()
    assert urls[0].startswith(f"{TRACK}/u/".encode())
    assert urls[1].startswith(f"mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20".encode())
    claims = tokens.verify(KEY, built.unsubscribe_url.rsplit("/", 1)[1], TokenKind.UNSUBSCRIBE)
    assert (claims.tenant_id, claims.message_id) == (TENANT, built.message_id)


def test_body_links_pixel_and_text_part() -> None:
    built = build_message(spec(), KEY)
    text, html = parts(parse(built.raw))

    # Every http(s) link is rewritten to a signed click token for its own URL.
    assert set(built.tracked_links) == {
        "https://acme.test/pricing?plan=pro&ref=mail",
        "https://acme.test/docs",
    }
    for original, tracked in built.tracked_links.items():
        assert tracked.startswith(f"{TRACK}/t/c/")
        assert tracked in html and tracked in text
        claims = tokens.verify(KEY, tracked.rsplit("/", 1)[1], TokenKind.CLICK)
        assert claims.url == original and claims.message_id == built.message_id
    assert "https://acme.test/" not in html
    assert 'href="mailto:sales@acme.test"' in html and 'href="#top"' in html

    # The unsubscribe link is in both bodies and is not click-tracked.
    assert built.unsubscribe_url in html and built.unsubscribe_url in text
    # One open pixel, in the HTML only.
    pixels = re.findall(r'<img src="([^"]+)" width="1" height="1"', html)
    assert len(pixels) == 1 and pixels[0].startswith(f"{TRACK}/t/o/")
    assert tokens.verify(KEY, pixels[0].rsplit("/", 1)[1], TokenKind.OPEN)
    assert "/t/o/" not in text

    assert "Hi Ada," in text and "- One\n- Two" in text and "color:red" not in text
    assert "our pricing (https://track" in text


def test_tracking_can_be_switched_off_and_placeholder_used() -> None:
    html = '<p>Hello</p><p><a href="https://acme.test/">site</a> · <a href="{{unsubscribe_url}}">stop</a></p>'
    built = build_message(spec(html=html, track_opens=False, track_clicks=False), KEY)
    text, body = parts(parse(built.raw))
    assert built.unsubscribe_url in text
    assert 'href="https://acme.test/"' in body
    assert "/t/o/" not in body and "/t/c/" not in body and built.tracked_links == {}
    assert body.count(built.unsubscribe_url) == 1  # the placeholder, no extra footer
    assert "unsubscribe here" not in body


def test_follow_up_is_threaded() -> None:
    first = outbound_message_id(TENANT, "c1", "l1", "s1", DOMAIN)
    second = outbound_message_id(TENANT, "c1", "l1", "s2", DOMAIN)
    third = outbound_message_id(TENANT, "c1", "l1", "s3", DOMAIN)
    msg = parse(build_message(spec(message_id=third, thread=(first, second)), KEY).raw)
    assert msg["In-Reply-To"] == second
    assert msg["References"] == f"{first} {second}"
    assert msg["Subject"] == "Re: Quick question about Analytical Engines"
    again = parse(build_message(spec(subject="RE: hi", thread=(first,)), KEY).raw)
    assert again["Subject"] == "RE: hi"


def test_non_ascii_names_and_subject_survive() -> None:
    built = build_message(
        spec(from_name="Zoë Ñúñez", subject="Café ☕ tomorrow?", html="<p>Grüße</p>"), KEY
    )
    msg = parse(built.raw)
    assert msg["Subject"] == "Café ☕ tomorrow?"
    assert msg["From"].addresses[0].display_name == "Zoë Ñúñez"
    assert all(b < 0x80 for b in built.raw)  # 7-bit on the wire
    assert "Grüße" in parts(msg)[0]


def test_dkim_signature_verifies_against_the_served_record(
    key_pair: dkim_keys.DkimKeyPair, dns_server: DnsServer, dns_zone: Zone
) -> None:
    selector = "pm2026"
    dns_zone.set(
        dkim_keys.record_name(selector, DOMAIN),
        "TXT",
        [dkim_keys.record_value(key_pair.public_b64)],
    )
    first = outbound_message_id(TENANT, "c1", "l1", "s1", DOMAIN)
    built = build_message(
        spec(thread=(first,), message_id=outbound_message_id(TENANT, "c1", "l1", "s2", DOMAIN)),
        KEY,
        DkimKey(DOMAIN, selector, key_pair.private_pem),
    )
    assert built.raw.startswith(b"DKIM-Signature: ")
    dnsfunc = dkim_dnsfunc(dns_server.address)
    assert dkim_keys.verify(built.raw, dnsfunc)

    signed = dkim_keys.signed_headers(built.raw)
    for name in dkim_keys.REQUIRED_SIGNED_HEADERS:
        assert name.lower() in signed
    assert {"in-reply-to", "references", "mime-version", "content-type"} <= set(signed)
    assert signed.count("from") == 2  # oversigned: no second From can be added

    # Trace headers added in transit keep it valid; any change to a signed part breaks it.
    assert dkim_keys.verify(b"Received: from x by y; now\r\n" + built.raw, dnsfunc)
    for old, new in (
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
        (b"Subject: Re: Quick", b"Subject: Re: Slow"),
        (b"Hi Ada,", b"Hi Bob,"),
    ):
        assert old in built.raw
        assert not dkim_keys.verify(built.raw.replace(old, new, 1), dnsfunc)

    # Another key published under the selector: the signature no longer verifies.
    dns_zone.set(
        dkim_keys.record_name(selector, DOMAIN),
        "TXT",
        [dkim_keys.record_value(dkim_keys.generate_key_pair().public_b64)],
    )
    assert not dkim_keys.verify(built.raw, dnsfunc)


def test_dkim_domain_must_align_with_from(key_pair: dkim_keys.DkimKeyPair) -> None:
    with pytest.raises(ValueError, match="alignment"):
        build_message(spec(), KEY, DkimKey("other.test", "s", key_pair.private_pem))
    assert "PRIVATE" not in repr(DkimKey(DOMAIN, "s", key_pair.private_pem))
    assert "PRIVATE" not in repr(key_pair)


def test_html_to_text() -> None:
    assert html_to_text("<p>a  b\n c</p><p>d<br>e</p>") == "a b c\n\nd\ne\n"
    assert html_to_text('<a href="https://x.test/">https://x.test/</a>') == "https://x.test/\n"
    assert html_to_text("<script>alert(1)</script><p>&lt;ok&gt; &amp;</p>") == "<ok> &\n"
    assert html_to_text('<img src="a.png" alt="Logo"><pre>  keep\n  this</pre>') == (
        "Logo\nkeep\nthis\n"
    )
