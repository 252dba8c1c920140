"""Callbacks: repository modules, one per area (policies, callbacks, plans, surveys), the
identities' lookup (keys) and the firing's lock wait (locks)."""
