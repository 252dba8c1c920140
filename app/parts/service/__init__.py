"""Spare parts: service modules, one per area (catalogue, stock, requests, warranty, rma, loans, reports)."""
