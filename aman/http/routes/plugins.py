"""Plugins: list, enable, disable (confirmed), install from a .tar.gz, uninstall; UI pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response, g, jsonify, request
from quart_schema import DataSource, document_request

from aman.errors import InvalidInputError
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ErrorBody, ResponseModel
from aman.http.validation import responds

bp = Blueprint("plugins", __name__)


class PluginView(ResponseModel):
    """One plugin as the routes show it."""

    name: str
    version: str
    description: str
    state: str = Field(description="enabled, disabled or failed.")
    source: str = Field(description="bundled, installed, entrypoint or default.")
    error: str | None = Field(description="Why the plugin failed, else null.")
    path: str | None
    depends_on: list[str]
    routes: list[dict[str, Any]] = Field(description="{method, path, public} under /api/v1.")
    sources: list[str] = Field(description="Ids of its event sources.")
    event_types: list[dict[str, str]]
    tools: list[str]
    pages: list[dict[str, Any]]


class PluginList(ResponseModel):
    """Body of GET /plugins."""

    items: list[PluginView]


class PluginUpload(BaseModel):
    """Multipart body of POST /plugin/install."""

    plugin: bytes = Field(description="The plugin archive (.tar.gz).",
                          json_schema_extra={"format": "binary"})


class Installed(ResponseModel):
    """Body of POST /plugin/install."""

    plugin_name: str
    version: str
    install_dir: str
    state: str
    error: str | None


class UiPageView(ResponseModel):
    """One UI page."""

    id: str
    label: str
    plugin: str
    path: str | None = None


class UiPageList(ResponseModel):
    """Body of GET /ui/pages."""

    items: list[UiPageView]


@bp.get("/plugins")
@policy()
@responds(PluginList)
async def list_plugins() -> Response:
    """Every plugin found (enabled, disabled or failed) with what it contributes."""
    return jsonify({"items": runtime().plugins.views()})


@bp.post("/plugin/<name>/enable")
@policy(action="plugin.enable", target="plugin:{name}")
@responds(PluginView)
async def enable(name: str) -> Response:
    """Load the plugin now and on every boot; 422 ``plugin_failed`` when it fails to load."""
    host = runtime().plugins
    before = host.view(name)["state"]
    view = await host.enable(name)
    g.audit_detail = {"state_before": before, "state": view["state"]}
    return jsonify(view)


@bp.post("/plugin/<name>/disable")
@policy(confirm=True, action="plugin.disable", target="plugin:{name}")
@responds(PluginView)
async def disable(name: str) -> Response:
    """Run its shutdown hook and remove its routes, sources, tools and pages; persisted."""
    host = runtime().plugins
    before = host.view(name)["state"]
    view = await host.disable(name)
    g.audit_detail = {"state_before": before, "state": view["state"]}
    return jsonify(view)


@bp.post("/plugin/install")
@policy(action="plugin.install", target="plugins")
@responds(Installed)
@responds(ErrorBody, 409)
@document_request(PluginUpload, source=DataSource.FORM_MULTIPART)
async def install() -> Response:
    """Install a plugin from a multipart upload: a .tar.gz in the field ``plugin``.

    Unsafe or invalid archives are 400 with a stable code and leave nothing on disk; a name that
    exists is 409.
    """
    files = await request.files
    upload = files.get("plugin")
    if upload is None:
        upload = next((f for f in files.values() if (f.filename or "").endswith(".tar.gz")), None)
    if upload is None:
        raise InvalidInputError("multipart must contain `plugin` file field",
                                code="plugin_archive_missing",
                                hint="Send multipart/form-data with the .tar.gz in field 'plugin'.")
    data = upload.read()
    result = await runtime().plugins.install(data)
    g.audit_detail = {"plugin": result["plugin_name"], "version": result["version"],
                      "bytes": len(data)}
    return jsonify(result)


@bp.post("/plugin/<name>/uninstall")
@policy(action="plugin.uninstall", target="plugin:{name}")
@responds(ErrorBody, 409)
async def uninstall(name: str) -> Response:
    """Stop an installed plugin and delete its folder; bundled plugins are 409."""
    return jsonify(await runtime().plugins.uninstall(name))


@bp.get("/ui/pages")
@policy(public=True, needs_runtime=False)
@responds(UiPageList)
async def ui_pages() -> Response:
    """Pages of enabled plugins: ``{items: [{id, label, plugin}]}``."""
    return jsonify({"items": runtime().plugins.pages()})
