from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.columns import id_field, ts_field


class Branch(SQLModel, table=True):
    __tablename__ = "branches"

    id: uuid.UUID = id_field()
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="branches.id")
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
