"""Spare parts: schemas modules, one per area (catalogue, stock, requests, warranty, rma, loans, reports)."""
