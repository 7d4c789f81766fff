"""Plugin tools: registered as plugin:<name>, callable, withdrawn on disable.

A name clash fails the plugin.
"""

from __future__ import annotations

from pathlib import Path

from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import SettingsFactory, runtime_of, wait_for

PLUGIN = '''
from pydantic import BaseModel, Field

from aman.plugins.api import hookimpl
from aman.tools.model import Sensitivity, Tool, ToolOutput


class Params(BaseModel):
    text: str = Field("hi", description="What to say.")


async def run(params, ctx):
    return ToolOutput("{name} says " + params.text)


@hookimpl
def register_tools(context):
    return [Tool({tool!r}, "Say something.", Params, Sensitivity.LOW, run)]
'''


def make_plugin(root: Path, name: str, tool: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.yaml").write_text(f"name: {name}\nversion: '1.0.0'\nmodule: {name}.py\n")
    source = PLUGIN.replace("{name}", name).replace("{tool!r}", repr(tool))
    (folder / f"{name}.py").write_text(source)


async def test_hook_register_tools(make_settings: SettingsFactory, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "sayer", "say")
    make_plugin(plugins, "shadow", "read")  # a built-in's name
    # another plugin's name (loads after sayer: folders load in name order)
    make_plugin(plugins, "twin", "say")
    app = create_app(make_settings(plugins__dirs=[str(plugins)]))
    async with app.test_app():
        runtime: Runtime = runtime_of(app)
        await wait_for(lambda: runtime.ready or runtime.state.value == "failed")
        assert runtime.ready
        client = app.test_client()
        tools = {t["name"]: t for t in (await (await client.get("/tools")).get_json())["items"]}
        assert tools["say"]["source"] == "plugin:sayer" and tools["read"]["source"] == "builtin"
        response = await client.post("/tools/say/execute", json={"text": "hello"})
        assert (await response.get_json())["output"] == "sayer says hello"

        views = {p["name"]: p for p in (await (await client.get("/plugins")).get_json())["items"]}
        assert views["shadow"]["state"] == "failed"
        assert "'read' is already registered by builtin" in views["shadow"]["error"]
        assert views["twin"]["state"] == "failed"
        assert "plugin:sayer" in views["twin"]["error"]

        disabled = await client.post("/plugin/sayer/disable", headers={"x-aman-confirm": "yes"})
        assert disabled.status_code == 200
        assert "say" not in runtime.tools.names()
        assert (await client.post("/tools/say/execute", json={})).status_code == 404
        enabled = await client.post("/plugin/twin/enable")
        assert enabled.status_code == 200, await enabled.get_json()
        assert runtime.tools.get("say").source == "plugin:twin"
