"""The plugin host through a real app.

Manifests, discovery, isolation, enable/disable, persistence.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.plugins.manifest import ManifestError, in_range, parse_manifest
from tests.helpers import SettingsFactory, runtime_of, wait_for

SAMPLES = Path(__file__).resolve().parent / "plugins"
CONFIRM = {"x-aman-confirm": "yes"}


def copy_plugins(target: Path, *names: str) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(SAMPLES / name, target / name)
    return target


@asynccontextmanager
async def served(settings: Any) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready or runtime_of(app).state.value == "failed")
        yield app


@pytest.fixture
def plugin_app(make_settings: SettingsFactory, tmp_path: Path) -> Callable[..., Any]:
    def build(*names: str, **overrides: Any) -> Any:
        folder = copy_plugins(tmp_path / "plugins", *names)
        return served(make_settings(plugins__dirs=[str(folder)], **overrides))

    return build


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


# --- manifest --------------------------------------------------------------------------------

GOOD = "name: p\nversion: '1.0.0'\nmodule: p.py\n"


@pytest.mark.parametrize(("text", "fragment"), [
    ("module: p.py\nversion: '1'\n", "name: Field required"),
    ("name: Bad Name\nversion: '1'\nmodule: p.py\n", "name: String should match"),
    ("name: p\nmodule: p.py\n", "version: Field required"),
    ("name: p\nversion: one\nmodule: p.py\n", "version: String should match"),
    ("name: p\nversion: '1'\n", "module: Field required"),
    ("name: p\nversion: '1'\nmodule: ../evil.py\n", "module: String should match"),
    (GOOD + "aman: 'about one'\n", "cannot read"),
    (GOOD + "surprise: 1\n", "surprise: Extra inputs are not permitted"),
    (GOOD + "depends_on: [{name: q, version_range: '~1'}]\n", "cannot read"),
    (GOOD + "ui: {pages: [{label: x}]}\n", "ui.pages.0.id: Field required"),
    ("- a list\n", "must be a mapping"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_invalid_manifests_name_the_field(text: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "plugin.yaml")
    assert fragment in caught.value.message and caught.value.message.startswith("plugin.yaml: ")


def test_valid_manifest_with_short_forms() -> None:
    manifest = parse_manifest(GOOD + "aman: '>=0.1,<1'\ndepends_on: [q]\nui: {pages: [kanban]}\n",
                              "plugin.yaml")
    assert manifest.depends_on[0].name == "q" and manifest.ui.pages[0].id == "kanban"
    assert manifest.enabled_by_default is True


@pytest.mark.parametrize(("version", "spec", "ok"), [
    ("0.1.0", ">=0.1,<1", True), ("1.0.0", ">=0.1,<1", False), ("0.0.9", ">=0.1", False),
    ("2.3", "==2.3.0", True), ("2.3.1", "!=2.3.1", False),
])
def test_version_ranges(version: str, spec: str, ok: bool) -> None:
    assert in_range(version, spec) is ok


# --- discovery, hooks, isolation ------------------------------------------------------------


async def test_discovery_loads_a_plugin_and_every_contribution(plugin_app: Any) -> None:
    async with plugin_app("good") as app:
        rt = runtime_of(app)
        client = app.test_client()
        good = by_name((await (await client.get("/plugins")).get_json())["items"])["good"]
        assert good["state"] == "enabled" and good["source"] == "bundled" and good["error"] is None
        assert good["version"] == "1.2.0"
        assert {r["path"] for r in good["routes"]} >= {"/api/v1/good/ping", "/api/v1/good/open"}
        assert good["sources"] == ["good.source"] and good["tools"] == ["good_tool"]
        assert [p["id"] for p in good["pages"]] == ["good-page", "good"]
        assert rt.sources.describe("good.source")["state"] == "running"
        types = {t["event_type"]: t["owner"] for t in rt.event_types.listing()}
        assert types["good.happened"] == "plugin:good"
        assert "startup" in next(m for n, m in _modules("good")).CALLS


def _modules(prefix: str) -> list[tuple[str, Any]]:
    import sys

    return [(n, m) for n, m in sys.modules.items() if n.startswith(f"aman_plugin_{prefix}_")]


async def test_hook_register_routes_serves_under_api_v1(plugin_app: Any) -> None:
    async with plugin_app("good", http__token="secret-token") as app:
        client = app.test_client()
        auth = {"Authorization": "Bearer secret-token"}
        assert (await client.get("/api/v1/good/ping")).status_code == 401
        assert await (await client.get("/api/v1/good/ping",
                                       headers=auth)).get_json() == {"pong": True}
        assert (await client.get("/api/v1/good/open")).status_code == 200  # public route
        echo = await client.post("/api/v1/good/echo/42", json={"a": 1}, headers=auth)
        assert echo.status_code == 201
        assert await echo.get_json() == {"params": {"item": "42"}, "body": {"a": 1},
                                         "saw_token": False}
        missing = await client.get("/api/v1/good/nope", headers=auth)
        assert missing.status_code == 404
        assert (await missing.get_json())["error"]["code"] == "not_found"
        assert (await client.get("/api/v1/good/nope")).status_code == 401  # probing needs the token
        assert (await client.get("/api/v1/nobody/ping", headers=auth)).status_code == 404
        boom = await client.get("/api/v1/good/boom", headers=auth)
        assert boom.status_code == 500
        assert (await boom.get_json())["error"]["code"] == "plugin_route_failed"
        assert (await client.get("/health/ready")).status_code == 200


async def test_failing_plugins_are_isolated(plugin_app: Any) -> None:
    async with plugin_app("good", "raising", "unknown_hook", "bad_manifest", "import_error") as app:
        client = app.test_client()
        assert runtime_of(app).ready
        items = by_name((await (await client.get("/plugins")).get_json())["items"])
        assert items["good"]["state"] == "enabled"
        assert items["raising"]["state"] == "failed"
        assert "register_routes exploded on purpose" in items["raising"]["error"]
        assert items["unknown_hook"]["state"] == "failed"
        assert "register_routez" in items["unknown_hook"]["error"]
        assert items["bad_manifest"]["state"] == "failed"  # listed by folder name
        assert "name: String should match" in items["bad_manifest"]["error"]
        assert "cannot be imported" in items["import_error"]["error"]
        assert items["raising"]["routes"] == [] and items["unknown_hook"]["routes"] == []
        assert (await client.get("/health/ready")).status_code == 200
        debug = await (await client.get("/debug/metrics")).get_json()
        assert "register_routes exploded" in debug["plugins_failed"]["raising"]
        assert "good" in debug["plugins"]


async def test_duplicate_source_is_rejected_naming_both_plugins(plugin_app: Any) -> None:
    async with plugin_app("good", "dup_source") as app:
        items = by_name((await (await app.test_client().get("/plugins")).get_json())["items"])
        assert items["good"]["state"] == "enabled"
        assert items["dup_source"]["state"] == "failed"
        error = items["dup_source"]["error"]
        assert "'good.source'" in error and "'good'" in error and "'dup_source'" in error


async def test_duplicate_plugin_name_is_rejected(make_settings: SettingsFactory,
                                                 tmp_path: Path) -> None:
    one = copy_plugins(tmp_path / "one", "good")
    two = copy_plugins(tmp_path / "two", "good")
    async with served(make_settings(plugins__dirs=[str(one), str(two)])) as app:
        items = (await (await app.test_client().get("/plugins")).get_json())["items"]
        states = sorted((i["state"], i["path"]) for i in items if i["name"] == "good")
        assert [s for s, _ in states] == ["enabled", "failed"]
        failed = next(i for i in items if i["name"] == "good" and i["state"] == "failed")
        assert str(one / "good") in failed["error"]


async def test_enable_and_disable_at_runtime_add_and_remove_contributions(plugin_app: Any) -> None:
    async with plugin_app("good") as app:
        rt: Runtime = runtime_of(app)
        client = app.test_client()
        module = _modules("good")[-1][1]
        refused = await client.post("/plugin/good/disable")
        assert refused.status_code == 409  # confirmation required
        disabled = await client.post("/plugin/good/disable", headers=CONFIRM)
        assert disabled.status_code == 200 and (await disabled.get_json())["state"] == "disabled"
        assert (await client.get("/api/v1/good/ping")).status_code == 404
        assert [s.id for s in rt.sources.list()] == []
        assert "good.happened" not in {t["event_type"] for t in rt.event_types.listing()
                                       if t["origin"] == "registered"}
        assert (await (await client.get("/ui/pages")).get_json())["items"] == []
        assert module.CALLS[-1] == "shutdown"
        enabled = await client.post("/plugin/good/enable")
        assert enabled.status_code == 200 and (await enabled.get_json())["state"] == "enabled"
        assert (await client.get("/api/v1/good/ping")).status_code == 200
        assert rt.sources.describe("good.source")["state"] == "running"
        pages = (await (await client.get("/ui/pages")).get_json())["items"]
        assert {"id": "good", "label": "Good", "plugin": "good"} in pages
        assert (await client.post("/plugin/nobody/enable")).status_code == 404


async def test_enable_of_a_failing_plugin_is_422(plugin_app: Any) -> None:
    async with plugin_app("raising") as app:
        response = await app.test_client().post("/plugin/raising/enable")
        body = await response.get_json()
        assert response.status_code == 422 and body["error"]["code"] == "plugin_failed"


async def test_state_persists_across_restart(make_settings: SettingsFactory,
                                             tmp_path: Path) -> None:
    folder = copy_plugins(tmp_path / "plugins", "good")
    settings = make_settings(plugins__dirs=[str(folder)])
    async with served(settings) as app:
        assert (await app.test_client().post("/plugin/good/disable",
                                             headers=CONFIRM)).status_code == 200
    async with served(settings) as app:
        items = by_name((await (await app.test_client().get("/plugins")).get_json())["items"])
        assert items["good"]["state"] == "disabled"
        assert (await app.test_client().get("/api/v1/good/ping")).status_code == 404


async def test_example_plugin_is_bundled_and_disabled_by_default(
        make_settings: SettingsFactory) -> None:
    async with served(make_settings()) as app:
        client = app.test_client()
        example = by_name((await (await client.get("/plugins")).get_json())["items"])["example"]
        assert example["state"] == "disabled" and example["source"] == "bundled"
        assert (await client.post("/plugin/example/enable")).status_code == 200
        hello = await client.get("/api/v1/example/hello?name=you")
        assert await hello.get_json() == {"hello": "you", "plugin": "example"}
        rt = runtime_of(app)
        assert rt.sources.describe("example.tick")["state"] == "running"
        await rt.sources.configure("example.tick", {"interval_sec": 0.05})
        source = rt.sources.get("example.tick")
        await wait_for(lambda: getattr(source, "ticks", 0) >= 2)
        assert (await (await client.get("/ui/pages")).get_json())["items"] == [
            {"id": "example", "label": "Example", "plugin": "example"}]


async def test_hook_llm_provider_is_firstresult(runtime: Runtime) -> None:
    assert await runtime.plugins.llm_provider(runtime.settings) is None


async def test_a_plugin_provider_serves_in_place_of_the_default(
        plugin_app: Callable[..., Any]) -> None:
    async with plugin_app("provider") as app:
        client = app.test_client()
        session = (await (await client.post("/chat/session/create", json={})).get_json())["id"]
        sent = await client.post(f"/chat/session/{session}/send",
                                 json={"text": "hello there", "wait": True})
        assert sent.status_code == 200, await sent.get_data(as_text=True)
        reply = (await sent.get_json())["reply"]
        assert reply["content"].strip() == "HELLO THERE" and reply["model"] == "shouter-1"
        rt = runtime_of(app)
        assert rt.llm.resolve(None) == rt.settings.llm.default_provider


# --- default plugins and entry points ----------------------------------------------------------


async def test_builtin_sources_come_from_the_default_plugin(make_settings: SettingsFactory,
                                                            tmp_path: Path) -> None:
    settings = make_settings(sources__timers=[{"id": "t1", "interval_ms": 60000}])
    async with served(settings) as app:
        client = app.test_client()
        core = by_name((await (await client.get("/plugins")).get_json())["items"])["core-sources"]
        assert core["state"] == "enabled" and core["source"] == "default"
        assert core["sources"] == ["t1"]
        assert runtime_of(app).sources.describe("t1")["state"] == "running"
        refused = await client.post("/plugin/core-sources/disable", headers=CONFIRM)
        assert refused.status_code == 409
        assert (await client.post("/plugin/core-sources/uninstall")).status_code == 409


async def test_failing_default_plugin_fails_boot(make_settings: SettingsFactory) -> None:
    from aman.plugins.api import hookimpl
    from aman.plugins.host import PluginHost

    class Broken:
        @hookimpl
        def register_event_sources(self, context: Any) -> list[Any]:
            raise RuntimeError("core broke")

    app = create_app(make_settings())
    rt = runtime_of(app)
    rt.plugins = PluginHost(defaults=[("broken-core", Broken())], entry_point_group=None)
    async with app.test_app():
        await wait_for(lambda: rt.state.value == "failed")
        assert rt.phases.failure is not None and rt.phases.failure.step == "plugin_host"
        assert "core broke" in rt.phases.failure.error


async def test_entry_point_plugins_are_discovered(make_settings: SettingsFactory, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "ep_dist-2.5.0.dist-info").mkdir(parents=True)
    (site / "ep_dist-2.5.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ep-dist\nVersion: 2.5.0\n")
    (site / "ep_dist-2.5.0.dist-info" / "entry_points.txt").write_text(
        "[aman.plugins]\nep_plugin = aman_test_ep_plugin\n")
    (site / "aman_test_ep_plugin.py").write_text(
        "from aman.plugins.api import PluginRoute, hookimpl\n\n\n@hookimpl\n"
        "def register_routes(context):\n"
        "    return [PluginRoute('GET', '/who', lambda request: {'who': 'entry point'})]\n")
    monkeypatch.syspath_prepend(str(site))
    async with served(make_settings(plugins__dirs=[str(tmp_path / "none")])) as app:
        client = app.test_client()
        ep = by_name((await (await client.get("/plugins")).get_json())["items"])["ep_plugin"]
        assert (ep["state"], ep["source"], ep["version"]) == ("enabled", "entrypoint", "2.5.0")
        who = await client.get("/api/v1/ep_plugin/who")
        assert await who.get_json() == {"who": "entry point"}
        assert (await client.post("/plugin/ep_plugin/uninstall")).status_code == 409
    import sys

    sys.modules.pop("aman_test_ep_plugin", None)


async def test_hook_register_skill_folders(plugin_app: Any, tmp_path: Path) -> None:
    async with plugin_app("skillful") as app:
        rt = runtime_of(app)
        folder = tmp_path / "plugins" / "skillful" / "skills"
        assert folder in rt.skills.dirs
        client = app.test_client()
        assert (await client.post("/plugin/skillful/disable", headers=CONFIRM)).status_code == 200
        assert folder not in rt.skills.dirs


async def test_hook_register_channel_adapters_serves_builtin_platforms_through_core_channels(
    make_settings,  # type: ignore[no-untyped-def]
) -> None:
    from aman.core.runtime import Runtime

    runtime = Runtime(make_settings(**{"channels": {"generic": {"bridge": {"secret": "k"}}}}))
    await runtime.start()
    try:
        names = {view["name"]: view for view in runtime.plugins.views()}
        assert names["core-channels"]["state"] == "enabled"
        assert runtime.channels.platforms == ["generic", "slack", "telegram"]
        assert runtime.channels.get("generic", "bridge").config.secret.get_secret_value() == "k"
    finally:
        await runtime.stop()
    assert runtime.channels.platforms == []  # withdrawn with the plugin host at stop
