"""The HTTP contract (docs/contract/aman-http-api.txt) against the routes the app registers.

Public routes need no token, destructive routes demand confirmation, and every contract route is
either registered or listed in NOT_YET; the list only shrinks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart import Quart

from aman.core.app import POLICIES_KEY, create_app
from aman.http.policy import RoutePolicy
from tests.helpers import SettingsFactory

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "contract" / "aman-http-api.txt"
_ROUTE = re.compile(r"^(GET|POST|PUT|DELETE|PATCH) (/\S*)")

PUBLIC = {
    ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/health"), ("GET", "/health/llm"),
    ("GET", "/metrics"), ("GET", "/ui/pages"), ("GET", "/events/stream"),
}
DESTRUCTIVE = {
    ("POST", "/agent/shutdown"), ("POST", "/plugin/{}/disable"), ("POST", "/skill/{}/rollback"),
    ("POST", "/workflow-instance/{}/retry"), ("POST", "/workflow-instance/{}/cancel"),
    ("POST", "/dlq/{}/retry"), ("POST", "/config/set"),
    ("POST", "/config/unset"),  # beyond the contract: undoes /config/set
    ("POST", "/auth/keys"), ("POST", "/auth/keys/{}/revoke"),  # beyond the contract: API keys
    ("PUT", "/agents/{}/memory/{}"), ("DELETE", "/agents/{}/memory/{}/entries/{}"),  # memory
    ("POST", "/agents/{}/memory/{}/versions/{}/restore"),
}
#: Contract routes not registered yet; the list only shrinks.
NOT_YET: set[tuple[str, str]] = set()


def normalize(path: str) -> str:
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


def contract_routes() -> set[tuple[str, str]]:
    routes = set()
    for line in CONTRACT.read_text().splitlines():
        match = _ROUTE.match(line.strip())
        if match:
            routes.add((match.group(1), normalize(match.group(2))))
    return routes


def registered(app: Quart) -> dict[tuple[str, str], RoutePolicy]:
    policies = app.extensions[POLICIES_KEY]
    found = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found[(method, normalize(rule.rule))] = policies[rule.endpoint]
    return found


@pytest.fixture
def app(make_settings: SettingsFactory) -> Quart:  # built, not served: only the route table
    return create_app(make_settings())


def test_contract_file_lists_every_route() -> None:
    assert len(contract_routes()) == 86


def test_every_contract_route_is_registered_or_planned(app: Quart) -> None:
    routes = registered(app)
    missing = contract_routes() - set(routes)
    assert missing == NOT_YET, (f"registered but still in NOT_YET: {NOT_YET - missing}; "
                                f"lost: {missing - NOT_YET}")


def test_public_routes_are_exactly_the_contract_list(app: Quart) -> None:
    public = {route for route, spec in registered(app).items() if spec.public}
    # IM webhooks are public beyond the contract's list: platforms cannot send the daemon's
    # token, so they authenticate by signature alone. The console's page and files hold no data,
    # and its sign-in is where the token is traded for the cookie.
    console = {("GET", "/"), ("GET", "/ui/"), ("GET", "/ui/static/{}"), ("GET", "/ui/session"),
               ("POST", "/ui/session")}
    assert public == (PUBLIC - NOT_YET) | {("POST", "/im/{}/{}/webhook")} | console


def test_destructive_routes_demand_confirmation(app: Quart) -> None:
    confirmed = {route for route, spec in registered(app).items() if spec.confirm}
    assert confirmed == DESTRUCTIVE - NOT_YET


def test_state_changing_routes_name_their_audit_action(app: Quart) -> None:
    for (method, path), spec in registered(app).items():
        if method != "GET":
            assert spec.action, f"{method} {path} has no audit action"


async def test_openapi_documents_errors_and_security(client) -> None:  # type: ignore[no-untyped-def]
    spec = await (await client.get("/openapi.json")).get_json()
    shutdown = spec["paths"]["/agent/shutdown"]["post"]
    assert {"400", "401", "409", "500"} <= {str(s) for s in shutdown["responses"]}
    assert shutdown["security"]
    assert spec["paths"]["/health/live"]["get"]["security"] == []
    audit = spec["paths"]["/audit-log"]["get"]
    assert {"400", "401", "503"} <= {str(s) for s in audit["responses"]}
    assert {p["name"] for p in audit["parameters"]} >= {"limit", "cursor", "action", "since", "q"}
