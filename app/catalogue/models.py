"""Configurable catalogue: ticket categories, product families, service levels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.core.columns import ts_field


class Category(SQLModel, table=True):
    __tablename__ = "categories"
    __table_args__ = (Index("ix_categories_parent_code", "parent_code"),)

    code: str = Field(primary_key=True, max_length=64)
    parent_code: str | None = Field(default=None, foreign_key="categories.code", max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class ProductFamily(SQLModel, table=True):
    __tablename__ = "product_families"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    vendor: str | None = Field(default=None, max_length=200)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class ServiceLevel(SQLModel, table=True):
    """A contract names one; the SLA policies (later) hang off it. `is_default` marks the
    level that uncontracted tickets get."""

    __tablename__ = "service_levels"
    # "Exactly one default" is also the database's rule: at most one row may carry
    # is_default (the service keeps at least one by refusing to unset the current one).
    __table_args__ = (
        Index(
            "uq_service_levels_default",
            "is_default",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    is_default: bool = Field(default=False)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
