"""Plugin settings: declared in the manifest, given under plugins.config, checked before import."""

from __future__ import annotations

from typing import Any

import pytest

from aman.plugins.config import ConfigOption, PluginConfigError, resolve_config
from aman.plugins.manifest import ManifestError, parse_manifest
from tests.helpers import SettingsFactory, runtime_of
from tests.test_plugins import by_name, served

OPTIONS = {
    "interval_sec": ConfigOption(type="number", default=30),
    "mode": ConfigOption(type="string", enum=["fast", "slow"], default="slow"),
    "token": ConfigOption(type="string", required=True, description="API token"),
    "retries": ConfigOption(type="integer", default=3),
}


def test_defaults_fill_what_is_not_given() -> None:
    assert resolve_config("p", OPTIONS, {"token": "t"}) == {
        "interval_sec": 30, "mode": "slow", "token": "t", "retries": 3}


def test_every_problem_is_named_with_its_key() -> None:
    with pytest.raises(PluginConfigError) as info:
        resolve_config("p", OPTIONS, {"interval_sec": "soon", "mode": "warp", "retries": True,
                                      "colour": "red"})
    message = str(info.value)
    for fragment in ("plugins.config.p.colour: unknown option",
                     "plugins.config.p.interval_sec: 'soon' is not of type number",
                     "plugins.config.p.mode: 'warp' is not one of ['fast', 'slow']",
                     "plugins.config.p.retries: True is not of type integer",
                     "plugins.config.p.token: required (API token)"):
        assert fragment in message


@pytest.mark.parametrize(("config", "fragment"), [
    ({"x": {"type": "colour"}}, "config.x.type"),
    ({"x": {"type": "integer", "default": "ten"}}, "is not of type integer"),
    ({"x": {"type": "string", "secret": True}}, "config.x.secret"),
])
def test_a_bad_declaration_is_a_manifest_error(config: dict[str, Any], fragment: str) -> None:
    import yaml

    text = yaml.safe_dump({"name": "p", "version": "1.0.0", "module": "p.py", "config": config})
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "plugin.yaml")
    assert fragment in info.value.message


async def test_settings_reach_the_plugin_and_bad_ones_fail_it_alone(
        make_settings: SettingsFactory) -> None:
    settings = make_settings(**{"plugins.config": {"example": {"interval_sec": 0.5}}})
    async with served(settings) as app:
        client = app.test_client()
        assert (await client.post("/plugin/example/enable")).status_code == 200
        rt = runtime_of(app)
        assert rt.plugins.config_for("example") == {"interval_sec": 0.5}
        assert rt.sources.get("example.tick").config["interval_sec"] == 0.5

    bad = make_settings(**{"plugins.config": {"example": {"interval_sec": "often"}}})
    async with served(bad) as app:
        client = app.test_client()
        refused = await client.post("/plugin/example/enable")
        assert refused.status_code == 422
        plugin = by_name((await (await client.get("/plugins")).get_json())["items"])["example"]
        assert plugin["state"] == "failed"
        assert "plugins.config.example.interval_sec: 'often' is not of type number" in \
            plugin["error"]
        assert (await client.get("/health/ready")).status_code == 200
