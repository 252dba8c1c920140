"""Placeholder: callback and silence timer handlers."""
