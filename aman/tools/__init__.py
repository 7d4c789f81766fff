"""Tools the agent can use, approvals and the never-approvable checks."""
