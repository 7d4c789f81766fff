"""The /api/v1 dispatcher: plugin routes served from a table that changes at runtime.

Quart cannot add URL rules after the first request, so one catch-all rule serves
``/api/v1/<plugin>/<path>`` for every method and looks the route up in the plugin host on each
request. Its policy is decided per request too (``policy_for``): a plugin route needs the token
unless the plugin marked it public; an unknown route is a 404 after the token check. A handler
that raises becomes a 500 through the one error mapping.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Request, Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from aman.errors import AmanError, InternalError, NotFoundError
from aman.http.context import runtime
from aman.http.policy import RoutePolicy, policy
from aman.plugins.host import resolve
from aman.plugins.model import PluginRequest, PluginResponse, PluginRoute

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("plugin_router", __name__)
ENDPOINTS = frozenset({"plugin_router.dispatch", "plugin_router.dispatch_root"})
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Unknown plugin routes: the token is still needed (probing reveals nothing), then 404.
_UNKNOWN = RoutePolicy(needs_runtime=False, action="plugin.route")
_HIDDEN_HEADERS = frozenset({"authorization", "x-aman-token", "cookie"})


def match_route(rt: Runtime, plugin: str, method: str,
                path: str) -> tuple[PluginRoute, dict[str, Any]] | None:
    """The enabled plugin route for ``method path`` and its path parameters, or None."""
    routes = rt.plugins.routes_of(plugin)
    if not routes:
        return None
    table = Map([Rule(r.path, methods=[r.method], endpoint=i) for i, r in enumerate(routes)],
                strict_slashes=False)
    try:
        index, params = table.bind("plugin").match(path, method=method)
    except (NotFound, MethodNotAllowed, RequestRedirect):
        return None
    return routes[index], dict(params)


def _target(req: Request) -> tuple[str, str]:
    args = req.view_args or {}
    return str(args.get("plugin", "")), "/" + str(args.get("subpath", ""))


def policy_for(rt: Runtime, req: Request) -> RoutePolicy:
    """The policy of one request to the dispatcher, from the plugin route it reaches."""
    plugin, path = _target(req)
    found = match_route(rt, plugin, req.method, path)
    if found is None:
        return _UNKNOWN
    return RoutePolicy(public=found[0].public, action=f"plugin.{plugin}.route",
                       target=f"plugin:{plugin}")


@bp.route("/api/v1/<plugin>/", methods=_METHODS, defaults={"subpath": ""}, endpoint="dispatch_root")
@bp.route("/api/v1/<plugin>/<path:subpath>", methods=_METHODS)
@policy(action="plugin.route")
async def dispatch(plugin: str, subpath: str) -> Response:
    """Serve a plugin's route (``GET /plugins`` lists each plugin's routes)."""
    method, path = request.method, "/" + subpath
    found = match_route(runtime(), plugin, method, path)
    if found is None:
        raise NotFoundError(f"no plugin route {method} {request.path}",
                            hint="GET /plugins lists the routes of every enabled plugin.")
    route, params = found
    plugin_request = PluginRequest(
        plugin=plugin, method=method, path=path, params=params,
        query=request.args.to_dict(flat=True),
        headers={k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS},
        body=await request.get_data(cache=True, as_text=False, parse_form_data=False))
    try:
        result = await resolve(route.handler(plugin_request))
    except AmanError:
        raise
    except Exception as exc:
        log.exception("plugin %s failed on %s %s", plugin, method, path)
        raise InternalError(f"plugin {plugin!r} failed handling {method} {path}: "
                            f"{type(exc).__name__}", code="plugin_route_failed",
                            hint="The daemon log has the plugin's traceback.") from exc
    if isinstance(result, Response):
        return result
    status, headers = 200, {}
    if isinstance(result, PluginResponse):
        result, status, headers = result.body, result.status, dict(result.headers)
    response = jsonify(result)
    response.status_code = status
    response.headers.update(headers)
    return response
