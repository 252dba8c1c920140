"""Catalogue requests and replies: categories, product families, service levels.

Codes are the stable keys other records point at (a ticket's category, a device's
product family, a contract's service level), so they are chosen on create and never
change; a code that is no longer wanted is deactivated (`active=false`), never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]


# -- categories ---------------------------------------------------------------------


class CategoryCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "hardware.power",
                "parent_code": "hardware",
                "name": "电源故障",
                "name_en": "Power supply fault",
            }
        },
    )

    code: Code
    parent_code: str | None = Field(None, min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200, description="Chinese name (zh-CN).")
    name_en: str = Field(min_length=1, max_length=200)
    active: bool = True


class CategoryUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "电源/风扇故障", "name_en": "Power or fan fault"}},
    )

    parent_code: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = None


class CategoryOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "code": "hardware.power",
                "parent_code": "hardware",
                "name": "电源故障",
                "name_en": "Power supply fault",
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    code: str
    parent_code: str | None
    name: str
    name_en: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# -- product families ---------------------------------------------------------------


class ProductFamilyCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "wlan",
                "name": "无线局域网",
                "name_en": "Wireless LAN",
                "vendor": "华为",
            }
        },
    )

    code: Code
    name: str = Field(min_length=1, max_length=200, description="Chinese name (zh-CN).")
    name_en: str = Field(min_length=1, max_length=200)
    vendor: str | None = Field(None, max_length=200)
    active: bool = True


class ProductFamilyUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"vendor": "新华三", "active": False}}
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    vendor: str | None = Field(None, max_length=200)
    active: bool | None = None


class ProductFamilyOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "code": "switch",
                "name": "交换机",
                "name_en": "Switches",
                "vendor": None,
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    code: str
    name: str
    name_en: str
    vendor: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# -- service levels -----------------------------------------------------------------


class ServiceLevelCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "7x24-gold",
                "name": "7x24小时金牌服务",
                "name_en": "7x24 Gold",
                "is_default": False,
            }
        },
    )

    code: Code
    name: str = Field(min_length=1, max_length=200, description="Chinese name (zh-CN).")
    name_en: str = Field(min_length=1, max_length=200)
    is_default: bool = Field(
        False,
        description="The level uncontracted tickets get. Exactly one level is the default: "
        "setting it here moves the mark from the previous default.",
    )
    active: bool = True


class ServiceLevelUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"name": "7x24小时服务", "is_default": True}}
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    is_default: bool | None = Field(
        None,
        description="Only `true` is accepted for a level that is not the default (it takes "
        "the mark); to change the default, set it on the new one.",
    )
    active: bool | None = None


class ServiceLevelOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "code": "basic",
                "name": "基础服务",
                "name_en": "Basic service",
                "is_default": True,
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    code: str
    name: str
    name_en: str
    is_default: bool
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
