"""Shared pytest configuration. The lab fixtures live in tests/lab/."""
