"""Workflows: YAML state machines whose instances are persisted and driven by bus events (issue #5)."""
