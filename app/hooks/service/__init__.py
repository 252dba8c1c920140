"""Webhooks: the service modules, one per subject (sources and alerts in, subscriptions and deliveries out)."""
