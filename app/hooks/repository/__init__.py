"""Webhooks: the repository modules, one per subject (sources and alerts in, subscriptions and deliveries out)."""
