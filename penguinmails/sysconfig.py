"""System configuration: the known `system_config` keys, each with its type, bounds and
default, validated by a pydantic schema per key. A key absent from the table has its
default; a value is only ever stored after it validates. Read through one `TtlCache` per
process (10 s, as the flags), so a staff change reaches every API process and worker
within that time.

Keys:
- `billing.grace_days`: days a `past_due` tenant keeps sending before its campaigns pause
  (`billing`); read when a tenant's `SubscriptionWorkflow` starts. Default: the
  `BILLING_GRACE_DAYS` setting.
- `tracking.bot_window_seconds`: a hit this soon after the send is a scanner's.
- `webhooks.retry_horizon_hours`: how long an outbound webhook delivery is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from penguinmails.bots import TOO_SOON
from penguinmails.webhooks import GIVE_UP_AFTER


@dataclass(frozen=True)
class ConfigKey:
    name: str
    schema: TypeAdapter[Any]
    default: Callable[[Any], Any]  # of the Settings: a key may default to a setting
    description: str
    category: str


GRACE_DAYS = "billing.grace_days"
BOT_WINDOW = "tracking.bot_window_seconds"
WEBHOOK_HORIZON = "webhooks.retry_horizon_hours"

KEYS: Mapping[str, ConfigKey] = {
    k.name: k
    for k in (
        ConfigKey(
            GRACE_DAYS,
            TypeAdapter(Annotated[int, Field(strict=True, ge=1, le=60)]),
            lambda settings: settings.billing_grace_days,
            "days a past_due tenant keeps sending before its campaigns pause",
            "billing",
        ),
        ConfigKey(
            BOT_WINDOW,
            TypeAdapter(Annotated[int, Field(strict=True, ge=0, le=3600)]),
            lambda _: int(TOO_SOON.total_seconds()),
            "a tracking hit this many seconds after the send is counted as a scanner's",
            "tracking",
        ),
        ConfigKey(
            WEBHOOK_HORIZON,
            TypeAdapter(Annotated[int, Field(strict=True, ge=1, le=24 * 14)]),
            lambda _: int(GIVE_UP_AFTER.total_seconds() // 3600),
            "hours an outbound webhook delivery is retried before it fails",
            "webhooks",
        ),
    )
}


class UnknownKey(KeyError):
    pass


class InvalidValue(ValueError):
    def __init__(self, key: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{key}: invalid value")
        self.key = key
        self.errors = errors


def validate(key: str, value: Any) -> Any:
    """The value as the key's schema accepts it; UnknownKey or InvalidValue."""
    known = KEYS.get(key)
    if known is None:
        raise UnknownKey(key)
    try:
        return known.schema.validate_python(value)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise InvalidValue(key, errors) from None


def effective(stored: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """Every known key's value: stored when valid, else its default (a stored value that
    no longer validates, after a schema change, never reaches the code)."""
    values = {}
    for name, key in KEYS.items():
        try:
            values[name] = validate(name, stored[name])
        except (KeyError, InvalidValue):
            values[name] = key.default(settings)
    return values


__all__ = [
    "BOT_WINDOW",
    "GRACE_DAYS",
    "KEYS",
    "WEBHOOK_HORIZON",
    "ConfigKey",
    "InvalidValue",
    "UnknownKey",
    "effective",
    "validate",
]
