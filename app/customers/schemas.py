"""Customer archive (客户档案) requests and replies: customers and their contacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from app.core.contact_details import check_email, check_phone
from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

Language = Literal["zh-CN", "en"]


# -- customers ----------------------------------------------------------------------


class CustomerCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "branch_id": "0192f3c4-0000-7000-8000-000000000001",
                "code": "C-SH-000123",
                "name": "上海浦东发展银行数据中心",
                "name_en": "SPDB Data Centre",
                "industry": "金融",
                "address": "上海市浦东新区张江高科技园区博霞路18号",
                "notes": "核心业务系统, 7x24 保障",
            }
        },
    )

    branch_id: uuid.UUID = Field(
        description="The branch that serves this customer. A branch-scoped key may only "
        "name its own branch."
    )
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    name: str = Field(min_length=1, max_length=300)
    name_en: str | None = Field(None, max_length=300)
    industry: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=500)
    notes: Text | None = Field(None, max_length=4000)


class CustomerUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"address": "上海市浦东新区祖冲之路887号", "active": True}},
    )

    branch_id: uuid.UUID | None = Field(
        None, description="Move the customer to another branch (within the key's scope)."
    )
    name: str | None = Field(None, min_length=1, max_length=300)
    name_en: str | None = Field(None, max_length=300)
    industry: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=500)
    notes: Text | None = Field(None, max_length=4000)
    active: bool | None = None


class CustomerOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-000000000010",
                "branch_id": "0192f3c4-0000-7000-8000-000000000001",
                "code": "C-SH-000123",
                "name": "上海浦东发展银行数据中心",
                "name_en": "SPDB Data Centre",
                "industry": "金融",
                "address": "上海市浦东新区张江高科技园区博霞路18号",
                "notes": None,
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    branch_id: uuid.UUID
    code: str
    name: str
    name_en: str | None
    industry: str | None
    address: str | None
    notes: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# -- contacts -----------------------------------------------------------------------


class ContactCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "王建国",
                "title": "网络运维主管",
                "phone": "021-5080 1234 转 8001",
                "email": "wang.jianguo@example.com.cn",
                "language": "zh-CN",
            }
        },
    )

    name: str = Field(min_length=1, max_length=200)
    title: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)
    language: Language = Field("zh-CN", description="Language of notices sent to this contact.")

    _email = field_validator("email")(check_email)
    _phone = field_validator("phone")(check_phone)


class ContactUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"phone": "13800138000", "language": "en"}},
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    title: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)
    language: Language | None = None
    active: bool | None = None

    _email = field_validator("email")(check_email)
    _phone = field_validator("phone")(check_phone)


class ContactOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-000000000020",
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "name": "王建国",
                "title": "网络运维主管",
                "phone": "021-5080 1234 转 8001",
                "email": "wang.jianguo@example.com.cn",
                "language": "zh-CN",
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    title: str | None
    phone: str | None
    email: str | None
    language: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
