"""MCP: tools from any MCP server for the agents, and aman itself as an MCP server.

Only this package imports the ``mcp`` SDK; importing the package itself loads nothing of it
(``settings`` is read by the config loader at every start).
"""
