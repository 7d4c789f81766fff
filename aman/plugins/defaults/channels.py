"""The built-in IM channel adapters (Telegram, Slack, generic HMAC) as a default plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aman.channels.registry import ADAPTERS
from aman.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from aman.plugins.context import PluginContext


@hookimpl
def register_channel_adapters(context: PluginContext) -> list[type]:
    """Serve ``channels.telegram|slack|generic.<instance>``.

    Each at ``/im/<platform>/<instance>/webhook``.
    """
    return list(ADAPTERS.values())
