"""Integrations of xling into other frameworks (each an optional extra)."""
