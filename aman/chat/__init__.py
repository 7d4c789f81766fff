"""Chat: sessions, turns, content policy and the OpenAI-compatible mapping."""
