"""E-mail rules, one module per area: notices (rules, subscriptions, profiles, preview),
deliveries (dead letters, retries, suppressions), inbound (mail in)."""
