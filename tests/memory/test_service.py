"""MemoryService in a real runtime: a hand edit is taken in once, whoever notices it first."""

from __future__ import annotations

import asyncio

from aman.core.runtime import Runtime


async def test_a_hand_edit_noticed_by_several_readers_at_once_becomes_one_version(
        runtime: Runtime) -> None:
    memory = runtime.memory
    agent = next(iter(runtime.settings.agents))
    before = (await memory.file(agent, "memory")).version
    path = memory.path(agent, "memory")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Edited by hand.\n")
    # The watcher's sync, a GET of the file and a GET of its versions all find the edit at once.
    await asyncio.gather(memory.sync(agent), memory.file(agent, "memory"),
                         memory.versions(agent, "memory"), memory.file(agent, "memory"))
    versions = await memory.versions(agent, "memory")
    assert [v.version for v in versions if v.author == "disk"] == [before + 1]
    assert (await memory.file(agent, "memory")).entries == ("Edited by hand.",)
