"""Staff accounts: the people who may read any tenant's workflows through the codec endpoint;
and the codec-only token a Temporal UI uses instead of a staff key.

A staff member is an ordinary user (with a tenant of their own, so their API key has a home)
plus a `staff_members` row; only the system role writes that table.
"""

from __future__ import annotations

from temporalio.client import Client

from penguinmails.codec import codec_token_record
from penguinmails.db import Database
from penguinmails.repositories.staff import add_staff, grant_role
from penguinmails.repositories.users import UserRepository
from penguinmails.secrets import SecretStore
from penguinmails.security import NewKey
from usecases.tenancy import SignUpResult, sign_up

STAFF_TENANT_NAME = "PenguinMails staff"


class UnknownStaff(Exception):
    pass


async def create_staff(
    db: Database,
    client: Client,
    email: str,
    key: NewKey | None = None,
    role: str | None = "read_only",
) -> SignUpResult:
    """A staff account with `role` (`super_admin`, `support`, `billing`, `read_only`)."""
    # A staff account is no customer: no welcome e-mail.
    result = await sign_up(db, client, STAFF_TENANT_NAME, email, key=key, welcome=False)
    async with db.admin_session() as session:
        await add_staff(session, result.user_id, role)
    return result


async def grant(db: Database, email: str, role: str) -> None:
    """Give the staff member with this e-mail the role; UnknownStaff otherwise."""
    async with db.admin_session() as session:
        user = await UserRepository(session).find_by_email(email)
        if user is None or not await grant_role(session, user.id, role):
            raise UnknownStaff(email)


async def set_codec_token(store: SecretStore, path: str, token: str) -> None:
    """Make `token` the codec-only credential (`penguinmails.codec`), replacing any other."""
    record = codec_token_record(token)
    if await store.read(path) != record:
        await store.write(path, record)
