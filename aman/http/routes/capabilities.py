"""Capabilities: which features are live and how healthy each is."""

from __future__ import annotations

from pydantic import Field, RootModel
from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ResponseModel
from aman.http.validation import responds

bp = Blueprint("capabilities", __name__)


class CapabilityEntry(ResponseModel):
    """One provider of one capability."""

    capability: str = Field(description="chat, llm, tools, workflows, cron, explore, "
                                        "im:<platform>:<instance> or a plugin's name for it.")
    plugin: str = Field(description="core, core-channels or the contributing plugin.")
    version: str
    status: str = Field(description="healthy, degraded or error.")


class CapabilityMap(RootModel[dict[str, list[CapabilityEntry]]]):
    """Body of GET /capabilities: capability name → its entries."""


@bp.get("/capabilities")
# Answers while booting (with the token): empty before phase 2, so a frontend can watch it fill.
@policy(needs_runtime=False)
@responds(CapabilityMap)
async def list_capabilities() -> Response:
    """Every capability with its entries, computed now; ``{}`` before boot phase 2."""
    return jsonify(await runtime().capabilities.current())
