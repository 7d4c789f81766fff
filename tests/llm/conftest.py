"""Fixtures: fake provider servers and a fact recorder standing in for the bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import FakeBus
from tests.llm.fakes import FakeAnthropicServer, FakeOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def facts() -> FakeBus:
    """A recorder standing in for the bus's facts."""
    return FakeBus()
