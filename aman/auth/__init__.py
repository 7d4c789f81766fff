"""Scoped API keys: who a request is, and what it may reach."""
