"""E-mail both ways: notification rules and subscriptions, rendered deliveries sent over
SMTP exactly once as far as SMTP allows, quiet hours and flood caps, suppression after
hard bounces, and inbound mail (LMTP and HTTP) threaded onto tickets (DOMAIN 2, 7, 8)."""
