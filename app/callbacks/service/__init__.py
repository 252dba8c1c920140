"""Callbacks: service modules, one per area (policies, callbacks, plans, surveys, the
follow-up of a resolution, the silence close), with the pure business-day rules
(business) and the survey tokens (tokens)."""
