"""Configurable catalogue: ticket categories, product families, service levels."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.columns import ts_field


class Category(SQLModel, table=True):
    __tablename__ = "categories"

    code: str = Field(primary_key=True, max_length=64)
    parent_code: str | None = Field(default=None, foreign_key="categories.code", max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()


class ProductFamily(SQLModel, table=True):
    __tablename__ = "product_families"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    vendor: str | None = Field(default=None, max_length=200)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()


class ServiceLevel(SQLModel, table=True):
    """A contract names one; the SLA policies (later) hang off it. `is_default` marks the
    level that uncontracted tickets get."""

    __tablename__ = "service_levels"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    is_default: bool = Field(default=False)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
