"""The tenant's search attribute, for activities that start workflows themselves (workflow
code and the use cases take it from `workflows/names.py`, which reuses this key)."""

from __future__ import annotations

from uuid import UUID

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")


def tenant_search_attributes(tenant_id: UUID | str) -> TypedSearchAttributes:
    """Every workflow carries its tenant (DESIGN rule 6), so staff find it in the UI."""
    return TypedSearchAttributes([SearchAttributePair(TENANT_ID, str(tenant_id))])
