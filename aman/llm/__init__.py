"""LLM providers behind one interface: remote APIs and an embedded offline model."""
