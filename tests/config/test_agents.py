"""An agent's settings as the tool loop reads them: the per-tool levels they produce."""

from __future__ import annotations

from aman.config.agents import AgentSettings


def agent(**fields: object) -> AgentSettings:
    return AgentSettings.model_validate(fields)


def test_no_levels_of_its_own_by_default() -> None:
    assert agent().tool_sensitivity() == {}


def test_its_tools_sensitivity_is_its_levels() -> None:
    levels = {"read": "high", "exec": "medium"}
    assert agent(tools={"sensitivity": levels}).tool_sensitivity() == levels


def test_memory_write_approval_makes_the_memory_tool_high() -> None:
    assert agent(memory={"write_approval": True}).tool_sensitivity() == {"memory": "high"}
    assert agent(memory={"write_approval": False}).tool_sensitivity() == {}


def test_write_approval_is_not_undone_by_a_level_of_its_own() -> None:
    both = agent(memory={"write_approval": True},
                 tools={"sensitivity": {"memory": "low", "read": "medium"}})
    assert both.tool_sensitivity() == {"memory": "high", "read": "medium"}
