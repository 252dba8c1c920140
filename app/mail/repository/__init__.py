"""E-mail SQL, one module per area (the only place with SQL)."""
