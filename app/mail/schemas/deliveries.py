"""Placeholder: filled by its area (see /work/wt/GUIDE.md)."""
