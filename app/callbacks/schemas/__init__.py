"""Callbacks: schemas modules, one per area (policies, callbacks, plans, surveys)."""
