"""aman: a plugin-based personal agent runtime daemon."""

__version__ = "0.1.0"
