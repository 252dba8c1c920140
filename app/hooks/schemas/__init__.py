"""Webhooks: the schemas modules, one per subject (sources and alerts in, subscriptions and deliveries out)."""
