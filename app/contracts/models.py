from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

CONTRACT_STATUSES = ("active", "expired", "suspended")


class Contract(SQLModel, table=True):
    __tablename__ = "contracts"
    __table_args__ = (
        enum_check("status", CONTRACT_STATUSES, "ck_contracts_status"),
        CheckConstraint("ends_on >= starts_on", name="ck_contracts_dates"),
        Index("ix_contracts_customer_id_id", "customer_id", "id"),
    )

    id: uuid.UUID = id_field()
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    number: str = Field(max_length=64, unique=True)
    service_level: str = Field(foreign_key="service_levels.code", max_length=64)
    starts_on: date
    ends_on: date
    status: str = Field(default="active", max_length=16)
    notes: str | None = Field(default=None, max_length=4000)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class ContractDevice(SQLModel, table=True):
    """Devices a contract covers."""

    __tablename__ = "contract_devices"
    __table_args__ = (Index("ix_contract_devices_device_id", "device_id"),)

    contract_id: uuid.UUID = Field(foreign_key="contracts.id", primary_key=True, ondelete="CASCADE")
    device_id: uuid.UUID = Field(foreign_key="devices.id", primary_key=True)
