"""What is stored about plugins: the operator's enabled/disabled choice, behind a storage port."""

from __future__ import annotations

from typing import Protocol


class PluginStateRepository(Protocol):
    """Storage port for the operator's enabled/disabled choice per plugin."""

    async def all(self) -> dict[str, bool]:
        """Plugin name → enabled, for every plugin with a stored choice."""
        ...

    async def set(self, name: str, enabled: bool, *, now_ms: int) -> None:
        """Store the choice for ``name`` (replacing an earlier one), committed."""
        ...

    async def forget(self, name: str) -> None:
        """Drop the stored choice for ``name``; forgetting an unknown name changes nothing."""
        ...
