"""Spare parts (备件): catalogue, warehouses, the stock ledger, part requests on tickets,
low-stock warnings, warranty decisions, RMAs and loaners (DOMAIN section 6)."""
