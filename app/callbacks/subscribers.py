"""Placeholder: callbacks react to ticket changes here."""
