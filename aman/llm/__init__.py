"""LLM providers behind one interface (issue #7): remote APIs and an embedded offline model."""
