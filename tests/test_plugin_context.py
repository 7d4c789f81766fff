"""The context plugin hooks receive: what it offers, what it refuses, and what a disable undoes."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.errors import NotFoundError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.plugins.records import PluginLoadError
from tests.helpers import SettingsFactory, runtime_of, wait_for

CONFIRM = {"x-aman-confirm": "yes"}

LISTENER = '''
from aman.events.filters import EventFilter
from aman.plugins import PluginRoute, hookimpl


@hookimpl
def register_event_types(context):
    return [("listener.heard", "The listener plugin heard a ping.")]


@hookimpl
def startup(context):
    async def heard(event):
        context.bus.emit("listener.heard", {"heard": event.event_type})

    context.bus.subscribe("pings", heard, EventFilter(event_types=frozenset({"ping"})))


@hookimpl
def register_routes(context):
    def about(request):
        try:
            context.config_for("other")
            refused = None
        except PermissionError as exc:
            refused = str(exc)
        context.refresh_capabilities()
        return {"name": context.name, "config": context.config, "logger": context.log.name,
                "own": context.config_for("listener"), "refused": refused,
                "now": context.clock.now_ms() > 0, "tools": "good_tool" in context.tools.names()}

    return [PluginRoute("GET", "/about", about)]


@hookimpl
def register_capabilities(context):
    return [{"capability": "listening:" + context.name}]
'''

OLD_STYLE = '''
from aman.plugins import hookimpl


@hookimpl
def register_routes(runtime):
    return []
'''


def write_plugin(folder: Path, name: str, source: str, config: str = "") -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "plugin.yaml").write_text(
        f"name: {name}\nversion: '1.0.0'\nmodule: {name}_plugin.py\n{config}")
    (folder / name / f"{name}_plugin.py").write_text(source)


@asynccontextmanager
async def served(make_settings: SettingsFactory, folder: Path, **overrides: Any
                 ) -> AsyncIterator[Quart]:
    app = create_app(make_settings(plugins__dirs=[str(folder)], **overrides))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready or runtime_of(app).state.value == "failed")
        yield app


async def test_a_plugin_reaches_the_daemon_through_its_own_context(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    write_plugin(folder, "listener", LISTENER,
                 "config:\n  volume: {type: integer, default: 3}\n")
    async with served(make_settings, folder) as app:
        rt = runtime_of(app)
        client = app.test_client()
        about = await (await client.get("/api/v1/listener/about")).get_json()
        assert about == {"name": "listener", "config": {"volume": 3}, "own": {"volume": 3},
                         "logger": "aman.plugin.listener", "now": True, "tools": False,
                         "refused": "plugin 'listener' may read only its own settings, "
                                    "not those of 'other'"}

        # Its subscription is named after it, and its facts carry it as their source.
        assert "plugin:listener:pings" in rt.bus.subscriber_names
        heard: list[Event] = []

        async def collect(event: Event) -> None:
            heard.append(event)

        rt.bus.subscribe("test:heard", collect,
                         EventFilter(event_types=frozenset({"listener.heard"})))
        await rt.bus.publish(Event.create(source="test", event_type="ping"))
        await wait_for(lambda: bool(heard))
        assert heard[0].source == "plugin:listener" and heard[0].payload == {"heard": "ping"}

        # Asked alone through the host's public call, with its context.
        assert await rt.plugins.call_plugin_hook("listener", "register_capabilities") == [
            {"capability": "listening:listener"}]
        assert await rt.plugins.call_plugin_hook("listener", "shutdown") == []
        with pytest.raises(NotFoundError):
            await rt.plugins.call_plugin_hook("nobody", "startup")

        # Disabling removes what it subscribed, and its context is gone with it.
        assert (await client.post("/plugin/listener/disable", headers=CONFIRM)).status_code == 200
        assert "plugin:listener:pings" not in rt.bus.subscriber_names
        assert await rt.plugins.call_plugin_hook("listener", "register_capabilities") == []
        assert (await client.post("/plugin/listener/enable")).status_code == 200
        assert "plugin:listener:pings" in rt.bus.subscriber_names


async def test_a_raising_hook_comes_back_as_that_plugins_error(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    write_plugin(folder, "moody", "from aman.plugins import hookimpl\n\n\n@hookimpl\n"
                                  "def register_capabilities(context):\n"
                                  "    raise RuntimeError('not today')\n")
    async with served(make_settings, folder) as app:
        with pytest.raises(PluginLoadError) as caught:
            await runtime_of(app).plugins.call_plugin_hook("moody", "register_capabilities")
        assert caught.value.message == ("hook register_capabilities raised RuntimeError: "
                                        "not today")


async def test_a_hook_still_asking_for_runtime_fails_with_the_fix(
        make_settings: SettingsFactory, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    write_plugin(folder, "old", OLD_STYLE)
    async with served(make_settings, folder) as app:
        assert runtime_of(app).ready  # one plugin's error is its own
        view = runtime_of(app).plugins.view("old")
        assert view["state"] == "failed"
        assert "rename the `runtime` argument" in view["error"]


ROOT = Path(__file__).resolve().parent.parent
PLUGIN_CODE = [ROOT / "aman/plugins/hookspecs.py", ROOT / "aman/plugins/context.py",
               ROOT / "aman/plugins/api.py", ROOT / "aman/plugins/model.py",
               *sorted((ROOT / "aman/plugins/defaults").glob("*.py")),
               *sorted((ROOT / "plugins").rglob("*.py")),
               *sorted((ROOT / "tests/plugins").rglob("*.py"))]
COMPOSITION_ROOT = ("aman.core.runtime", "aman.core.app", "aman.core.boot", "aman.core.steps")


@pytest.mark.parametrize("path", PLUGIN_CODE, ids=lambda path: str(path.relative_to(ROOT)))
def test_hooks_and_plugins_never_import_the_runtime(path: Path) -> None:
    """Counting imports under ``TYPE_CHECKING``: what a hook gets is the context, nothing more."""
    tree = ast.parse(path.read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not imported & set(COMPOSITION_ROOT)
