"""Long-term memory: what the agent keeps and knows about its person, searchable and versioned."""
