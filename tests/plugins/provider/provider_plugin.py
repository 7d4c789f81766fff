"""``llm_provider``: a provider object of the plugin's own, used in place of the default one."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aman.llm.provider import CompletionRequest, Delta, Done, StreamItem, Usage
from aman.plugins import hookimpl


class Shouter:
    """Answers with the last user message in capitals, word by word."""

    kind = "plugin"
    model = "shouter-1"

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        question = next(m.content for m in reversed(request.messages) if m.role == "user")
        for word in question.upper().split():
            yield Delta(word + " ")
        yield Done("stop", Usage(1, 1), self.model)

    async def probe(self) -> None:
        return None

    async def close(self) -> None:
        return None


@hookimpl
def llm_provider(settings: Any) -> Shouter:
    return Shouter()
