"""Inputs, outputs and names of the tenancy activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

PROVISION_TENANT = "provision_tenant"


@dataclass(frozen=True)
class ProvisionTenantInput:
    tenant_id: str
    owner_user_id: str
    default_company_name: str = "Default workspace"


@dataclass(frozen=True)
class ProvisionTenantOutput:
    tenant_id: str
    default_company_id: str
    created_config: bool
    created_policies: bool
