"""The model ladder: a resource's `Base` holds its fields and their limits once; `Create`
inherits it as is, `Update` inherits it through `Patch`.

`Patch` makes every field optional to send without making it nullable: a field whose type
admits no None (a NOT NULL column) refuses an explicit `null` with 422 naming the field,
while a nullable one (`str | None`) may still be cleared. Leaving a field out keeps it;
routes store only what was sent (`model_dump(exclude_unset=True)`).
"""

from __future__ import annotations

import types
from typing import Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_admits_none(arg) for arg in get_args(annotation))
    return False


def _no_defaults(schema: dict[str, Any]) -> None:
    # A PATCH field's default is "unchanged", not a value: the document shows none.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class Patch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    non_nullable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for field in cls.model_fields.values():
            field.default = None
            field.default_factory = None
        cls.non_nullable = frozenset(
            name for name, field in cls.model_fields.items() if not _admits_none(field.annotation)
        )
        cls.model_rebuild(force=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.non_nullable:
            raise ValueError("may be left out, but not null")
        return value
