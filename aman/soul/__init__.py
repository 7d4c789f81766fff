"""The agent's persona: the SOUL.md format, the service that loads, versions and watches it."""
