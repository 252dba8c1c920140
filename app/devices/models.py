from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.columns import id_field, ts_field


class Device(SQLModel, table=True):
    """The installed base (客户设备档案). Its service history is its tickets."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("model", "serial", name="uq_devices_model_serial"),
        Index("ix_devices_customer_id_id", "customer_id", "id"),
        Index("ix_devices_product_family_id", "product_family", "id"),
        Index("ix_devices_serial", "serial"),
    )

    id: uuid.UUID = id_field()
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    serial: str = Field(max_length=100)
    model: str = Field(max_length=100)
    product_family: str = Field(foreign_key="product_families.code", max_length=64)
    software_version: str | None = Field(default=None, max_length=100)
    site: str | None = Field(default=None, max_length=300)
    install_date: date | None = None
    warranty_end: date | None = None
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
