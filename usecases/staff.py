"""Staff accounts: the people who may read any tenant's workflows through the codec endpoint.

A staff member is an ordinary user (with a tenant of their own, so their API key has a home)
plus a `staff_members` row; only the system role writes that table.
"""

from __future__ import annotations

from temporalio.client import Client

from penguinmails.db import Database
from penguinmails.repositories.api_keys import ApiKeyRepository
from penguinmails.repositories.staff import add_staff
from penguinmails.security import NewKey, existing_key
from usecases.tenancy import SignUpResult, sign_up

STAFF_TENANT_NAME = "PenguinMails staff"


async def create_staff(
    db: Database, client: Client, email: str, key: NewKey | None = None
) -> SignUpResult:
    result = await sign_up(db, client, STAFF_TENANT_NAME, email, key=key)
    async with db.admin_session() as session:
        await add_staff(session, result.user_id)
    return result


async def ensure_staff_key(db: Database, client: Client, plaintext: str) -> bool:
    """Make `plaintext` a working staff key (the dev stack's, kept in its data folder).
    True when this call created the account."""
    key = existing_key(plaintext)
    async with db.admin_session() as session:
        if await ApiKeyRepository(session).lookup(key.prefix) is not None:
            return False
    # One account per key: a new key (its file deleted) never collides with an old account.
    await create_staff(db, client, f"dev-staff+{key.prefix}@penguinmails.dev", key)
    return True
