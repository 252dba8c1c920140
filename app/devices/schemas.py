"""Installed base (客户设备档案) requests and replies."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from app.core.inputs import InputModel
from app.core.outputs import OutputModel


class DeviceCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "serial": "2102351931P0K8000123",
                "model": "S5735-L48T4X-A1",
                "product_family": "switch",
                "software_version": "V200R021C10SPC600",
                "site": "张江数据中心 3楼 A05机柜",
                "install_date": "2025-06-18",
                "warranty_end": "2028-06-17",
            }
        },
    )

    customer_id: uuid.UUID
    serial: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    product_family: str = Field(min_length=1, max_length=64)
    software_version: str | None = Field(None, max_length=100)
    site: str | None = Field(None, max_length=300)
    install_date: date | None = None
    warranty_end: date | None = None

    @field_validator("warranty_end")
    @classmethod
    def _dates(cls, value: date | None, info: ValidationInfo) -> date | None:
        install = info.data.get("install_date")
        if value is not None and install is not None and value < install:
            raise ValueError("warranty_end must not be before install_date")
        return value


class DeviceUpdate(InputModel):
    """The owning customer is fixed: a device that changes hands is a new record."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"software_version": "V200R022C00SPC500", "site": "张江数据中心 4楼 B02机柜"}
        },
    )

    serial: str | None = Field(None, min_length=1, max_length=100)
    model: str | None = Field(None, min_length=1, max_length=100)
    product_family: str | None = Field(None, min_length=1, max_length=64)
    software_version: str | None = Field(None, max_length=100)
    site: str | None = Field(None, max_length=300)
    install_date: date | None = None
    warranty_end: date | None = None
    active: bool | None = None


class DeviceOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-000000000030",
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "serial": "2102351931P0K8000123",
                "model": "S5735-L48T4X-A1",
                "product_family": "switch",
                "software_version": "V200R021C10SPC600",
                "site": "张江数据中心 3楼 A05机柜",
                "install_date": "2025-06-18",
                "warranty_end": "2028-06-17",
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    customer_id: uuid.UUID
    serial: str
    model: str
    product_family: str
    software_version: str | None
    site: str | None
    install_date: date | None
    warranty_end: date | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
