"""Skills: SKILL.md instructions for the LLM and YAML event skills run on the bus."""
