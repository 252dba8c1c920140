"""Roles, permissions, API key material and the branch scope of a principal."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.errors import Forbidden, NotFound


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    dispatcher = "dispatcher"
    engineer = "engineer"
    agent = "agent"
    integration = "integration"


class Permission(StrEnum):
    keys_manage = "keys:manage"
    branches_write = "branches:write"
    catalogue_write = "catalogue:write"
    records_read = "records:read"
    customers_write = "customers:write"
    contracts_write = "contracts:write"
    tickets_read = "tickets:read"
    tickets_create = "tickets:create"
    tickets_update = "tickets:update"
    tickets_assign = "tickets:assign"
    tickets_work = "tickets:work"
    tickets_comment = "tickets:comment"
    tickets_confirm = "tickets:confirm"
    tickets_reopen = "tickets:reopen"
    tickets_cancel = "tickets:cancel"
    outbox_manage = "outbox:manage"
    timers_manage = "timers:manage"
    people_write = "people:write"
    incidents_manage = "incidents:manage"
    stock_write = "stock:write"
    parts_request = "parts:request"
    parts_approve = "parts:approve"
    rma_manage = "rma:manage"
    loans_manage = "loans:manage"
    mail_manage = "mail:manage"
    mail_ingest = "mail:ingest"
    callbacks_work = "callbacks:work"
    callbacks_manage = "callbacks:manage"
    hooks_manage = "hooks:manage"


_ALL = set(Role)
_STAFF = {Role.admin, Role.manager, Role.dispatcher}

# Why a table and not role checks scattered in code: one place to read what a
# role may do, and the same table is printed in docs/api-guide.md.
ROLE_PERMISSIONS: dict[Permission, set[Role]] = {
    Permission.keys_manage: {Role.admin},
    Permission.branches_write: {Role.admin},
    Permission.catalogue_write: {Role.admin, Role.manager},
    Permission.records_read: _ALL,
    Permission.customers_write: _STAFF | {Role.agent, Role.integration},
    Permission.contracts_write: {Role.admin, Role.manager},
    Permission.tickets_read: _ALL,
    Permission.tickets_create: _STAFF | {Role.agent, Role.integration, Role.engineer},
    Permission.tickets_update: _STAFF | {Role.agent, Role.engineer},
    Permission.tickets_assign: _STAFF,
    Permission.tickets_work: _STAFF | {Role.engineer},
    Permission.tickets_comment: _ALL,
    Permission.tickets_confirm: _STAFF | {Role.agent, Role.integration},
    Permission.tickets_reopen: _STAFF | {Role.agent, Role.integration},
    Permission.tickets_cancel: _STAFF | {Role.agent},
    Permission.outbox_manage: {Role.admin},
    Permission.timers_manage: {Role.admin},
    Permission.people_write: {Role.admin, Role.manager},
    Permission.incidents_manage: _STAFF,
    # Stock moves are the warehouse staff's; an engineer asks for parts and fits them.
    Permission.stock_write: _STAFF,
    Permission.parts_request: _STAFF | {Role.engineer},
    Permission.parts_approve: {Role.admin, Role.manager},
    Permission.rma_manage: _STAFF | {Role.engineer},
    Permission.loans_manage: _STAFF | {Role.engineer},
    # Rules, subscriptions, dead deliveries and the suppression list are the admins'
    # and managers'; a mail gateway posts raw mail with an integration key.
    Permission.mail_manage: {Role.admin, Role.manager},
    Permission.mail_ingest: {Role.admin, Role.integration},
    # Callbacks are made by agents (客服); policies and contact plans set by management.
    Permission.callbacks_work: _STAFF | {Role.agent},
    Permission.callbacks_manage: {Role.admin, Role.manager},
    # Sources and subscriptions hold secrets and reach other systems: admins only.
    Permission.hooks_manage: {Role.admin},
}


@dataclass(frozen=True, slots=True)
class Principal:
    id: uuid.UUID
    name: str
    role: Role
    branch_id: uuid.UUID | None  # None: all branches

    def can(self, permission: Permission) -> bool:
        return self.role in ROLE_PERMISSIONS[permission]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(
                f"Role '{self.role}' may not do '{permission}'.", permission=str(permission)
            )

    def sees_branch(self, branch_id: uuid.UUID | None) -> bool:
        return self.branch_id is None or branch_id == self.branch_id

    def check_branch(self, branch_id: uuid.UUID | None, what: str = "Resource") -> None:
        # Another branch's object answers 404, not 403: its existence is not ours to reveal.
        if not self.sees_branch(branch_id):
            raise NotFound(f"{what} not found.")

    def scope(self, stmt: Any, branch_column: Any) -> Any:
        """Restrict a select to the principal's branch: the one helper every query uses."""
        if self.branch_id is None:
            return stmt
        return stmt.where(branch_column == self.branch_id)


KEY_PREFIX = "sl_"


def generate_api_key() -> tuple[str, str, str]:
    """Returns (plain key shown once, lookup prefix, hash stored)."""
    lookup = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plain = f"{KEY_PREFIX}{lookup}_{secret}"
    return plain, lookup, hash_api_key(plain)


def hash_api_key(plain: str) -> str:
    # Keys are 256-bit random, so a fast hash is safe (no dictionary to guess from)
    # and keeps authentication off the hot path's budget; bcrypt would cost ~100 ms.
    return hashlib.sha256(plain.encode()).hexdigest()
