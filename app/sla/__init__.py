"""Service levels kept: SLA policies, per-ticket clocks, warnings and breaches."""
