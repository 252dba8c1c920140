from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

LANGUAGES = ("zh-CN", "en")


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    # Lists are "filter, newest first by id": the index ends in id so a cursor page is
    # an index range scan.
    __table_args__ = (Index("ix_customers_branch_id_id", "branch_id", "id"),)

    id: uuid.UUID = id_field()
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        enum_check("language", LANGUAGES, "ck_contacts_language"),
        Index("ix_contacts_customer_id_id", "customer_id", "id"),
        # Mail in finds the contact who owns a sender's address (case-insensitively).
        Index(
            "ix_contacts_email_lower",
            text("lower(email)"),
            postgresql_where=text("email IS NOT NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    name: str = Field(max_length=200)
    title: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(default="zh-CN", max_length=8)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
