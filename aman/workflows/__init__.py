"""Workflows: YAML state machines, their instances persisted and driven by bus events."""
