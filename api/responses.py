"""JSON responses rendered by orjson (UTC datetimes with `Z`, as pydantic writes them)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

_OPTIONS = orjson.OPT_UTC_Z


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        # `str` for asyncpg's own UUID class (orjson writes only the standard one itself) and
        # anything else with a canonical text form: the builtin, not a Python function,
        # since a page calls it once per row.
        return orjson.dumps(content, default=str, option=_OPTIONS)
