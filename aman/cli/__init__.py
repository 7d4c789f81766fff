"""The ``aman`` command."""
