"""Staff: system configuration, typed values validated by each key's schema
(penguinmails/sysconfig.py). Only `super_admin` holds `config.write`; every change is
audited and reaches the API and the workers within 10 s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.deps import Principal, ServicesDep, require_staff
from api.errors import ApiError, not_found
from api.schemas.platform import ConfigItem, ConfigPut
from penguinmails.sysconfig import KEYS, InvalidValue, UnknownKey
from usecases.platform import Actor, config_values, set_config

router = APIRouter(prefix="/v1/staff/config", tags=["staff"])

ConfigRead = Annotated[Principal, require_staff("config.read")]
ConfigWrite = Annotated[Principal, require_staff("config.write")]


@router.get("", response_model=list[ConfigItem])
async def list_config(staff: ConfigRead, services: ServicesDep) -> list[ConfigItem]:
    """Every known key with its value (its default when not set)."""
    values = await config_values(services.db, services.settings)
    return [
        ConfigItem(
            key=key,
            value=value,
            default=not stored,
            description=KEYS[key].description,
            category=KEYS[key].category,
        )
        for key, (value, stored) in values.items()
    ]


@router.put(
    "/{key}",
    response_model=ConfigItem,
    responses={404: {"description": "not a known key"}},
)
async def put_config(
    key: str, body: ConfigPut, staff: ConfigWrite, services: ServicesDep
) -> ConfigItem:
    """Set a key; a value its schema refuses: 422 with the reasons in `details`."""
    try:
        value = await set_config(services.db, Actor("staff", staff.user_id), key, body.value)
    except UnknownKey:
        raise not_found("config key") from None
    except InvalidValue as exc:
        raise ApiError(422, f"invalid value for {key}", details=exc.errors) from None
    services.platform.invalidate()
    known = KEYS[key]
    return ConfigItem(
        key=key, value=value, default=False, description=known.description, category=known.category
    )
