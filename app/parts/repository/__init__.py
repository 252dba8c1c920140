"""Spare parts: repository modules, one per area (catalogue, stock, requests, warranty, rma, loans, reports)."""
