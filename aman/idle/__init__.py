"""Idle runs: skills the agent runs on its own while its person is away."""
