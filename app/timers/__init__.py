"""Durable timers: "something must happen at time T", kept in PostgreSQL, woken by ARQ."""
