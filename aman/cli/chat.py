"""``aman chat`` (interactive, streaming) and ``aman send`` (one turn, for scripts).

The chat view is plain lines, so it works in any 80-column terminal: the reply streams from the
session's own SSE stream as it is generated, each tool call is one line, an approval is asked
inline. Ctrl-C stops the running reply; Ctrl-C (or Ctrl-D) at the prompt leaves. History with the
arrow keys comes from the standard library's ``readline``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from aman.cli.client import ApiClient, ApiError, CliError
from aman.cli.connect import Options, UsageError, common_options, options
from aman.cli.output import cell, emit, style, table
from aman.cli.turns import Printer, SessionStream

HELP = ("/new  a new session   /retry  answer the last message again   /edit TEXT  replace "
        "your last message\n/sessions  list sessions   /switch ID  continue another   /exit  "
        "leave\nCtrl-C stops a running reply; Ctrl-C or Ctrl-D at the prompt leaves.")
#: Colour codes in the prompt, wrapped in readline's "invisible" markers so that line editing
#: counts only the visible characters.
_PROMPT_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
#: States in which a session is still working on a reply.
_BUSY = ("processing", "retrying", "active")


def register(cli: click.Group) -> None:
    """Add ``chat`` and ``send``."""
    cli.add_command(chat)
    cli.add_command(send)


def _create(api: ApiClient, agent: str | None) -> dict[str, Any]:
    body = {"agent_id": agent} if agent else {}
    return dict(api.post("/chat/session/create", body))


@click.command()
@click.option("--agent", help="Talk to this agent (default: the default agent).")
@click.option("--session", "session_id", help="Continue this session.")
@common_options
def chat(agent: str | None, session_id: str | None) -> None:
    """Chat with an agent in the terminal."""
    try:
        import readline  # noqa: F401  (arrow-key history and line editing for input())
    except ImportError:  # pragma: no cover - not every platform has it
        pass
    opts = options()
    with opts.client() as api:
        session = (api.get(f"/chat/session/{session_id}/state") if session_id
                   else _create(api, agent))
        view = ChatView(api, opts, session)
        try:
            view.loop()
        finally:
            view.close()


class ChatView:
    """The interactive loop over one session at a time."""

    def __init__(self, api: ApiClient, opts: Options, session: dict[str, Any]) -> None:
        self._api = api
        self._opts = opts
        self._stream: SessionStream | None = None
        self._enter(session)
        click.echo("/help for commands. Ctrl-C stops a reply; Ctrl-C at the prompt leaves.")

    def close(self) -> None:
        """Stop following the session's stream."""
        if self._stream is not None:
            self._stream.close()

    def _enter(self, session: dict[str, Any]) -> None:
        self.close()
        self.session = session
        self._stream = SessionStream(self._opts.client, session["id"])
        self._stream.open()
        click.echo(f"session {session['id']} with agent {session['agent_id']}"
                   + (f" ({session['message_count']} messages)"
                      if session.get("message_count") else ""))

    def loop(self) -> None:
        """Read lines until Ctrl-C, Ctrl-D or /exit."""
        while True:
            try:
                line = input(_PROMPT_ESCAPES.sub("\001\\g<0>\002",
                                                 style("you> ", fg="green", bold=True))).strip()
            except (KeyboardInterrupt, EOFError):
                click.echo()
                return
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self._command(line):
                        return
                else:
                    self._send(line)
            except CliError as exc:
                for text in exc.lines():
                    click.echo(text, err=True)

    def _send(self, text: str) -> None:
        sid = self.session["id"]
        self._turn(lambda: self._api.post(f"/chat/session/{sid}/send", {"text": text}))

    def _command(self, line: str) -> bool:
        """Run a slash command; False to leave."""
        name, _, rest = line.partition(" ")
        sid = self.session["id"]
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            click.echo(HELP)
        elif name == "/new":
            self._enter(_create(self._api, self.session["agent_id"]))
        elif name == "/retry":
            self._turn(lambda: self._api.post(f"/chat/session/{sid}/retry"))
        elif name == "/edit":
            if not rest.strip():
                raise UsageError("/edit needs the new text: /edit what I meant")
            state = self._api.get(f"/chat/session/{sid}/state")
            mine = [m for m in state["messages"] if m["role"] == "user"]
            if not mine:
                raise CliError("nothing to edit yet")
            self._turn(lambda: self._api.post(f"/chat/session/{sid}/edit", {
                "message_id": mine[-1]["id"], "new_text": rest.strip()}))
        elif name == "/sessions":
            items = self._api.get("/chat/sessions", params={"limit": 20})["items"]
            table(items, ["id", "agent_id", "state", "message_count", "title"])
        elif name == "/switch":
            if not rest.strip():
                raise UsageError("/switch needs a session id (see /sessions)")
            self._enter(self._api.get(f"/chat/session/{rest.strip()}/state"))
        else:
            raise UsageError(f"unknown command {name}; /help lists them")
        return True

    def _turn(self, start: Callable[[], object]) -> None:
        """Start a reply with ``start()`` and show it until it ends or Ctrl-C stops it."""
        assert self._stream is not None
        self._stream.drain()
        start()
        printer = _Printer()
        try:
            end = self._stream.follow(printer, self._approve)
        except KeyboardInterrupt:
            printer.newline()
            self._api.post(f"/chat/session/{self.session['id']}/stop")
            click.echo(style("[stopped]", fg="yellow"))
            return
        printer.newline()
        if end.error:
            click.echo(style(f"[error] {end.error}", fg="red"), err=True)
            if end.hint:
                click.echo(f"hint: {end.hint}", err=True)
        elif end.interrupted:
            click.echo(style("[interrupted]", fg="yellow"))
        elif not printer.wrote and end.reply:
            click.echo(end.reply)  # no chunk reached us (a very short reply): show it whole

    def _approve(self, request: dict[str, Any], printer: Printer) -> None:
        """Ask the user about one tool call and send the answer."""
        printer.newline()
        click.echo(f"{request['tool_name']} ({request.get('sensitivity')}) wants to run: "
                   f"{cell(request.get('arguments_summary'), width=60)}")
        while True:
            answer = input("approve? [y]es / [n]o / [s]ession: ").strip().lower()
            if answer in ("y", "yes", "n", "no", "s", "session"):
                break
        body: dict[str, Any] = {"auth_id": request["auth_id"], "approved": answer[0] != "n"}
        if answer[0] == "s":
            body["remember"] = "session"
        try:
            result = self._api.post("/tool-auth/respond", body)
            click.echo(f"  {request['tool_name']} {result['status']}")
        except ApiError as exc:
            click.echo(f"  {exc.message}", err=True)


class _Printer:
    """Writes streamed text and one-line notes without breaking lines in between."""

    def __init__(self) -> None:
        self.wrote = False
        self._mid_line = False

    def text(self, delta: str) -> None:
        if not self.wrote:
            sys.stdout.write(style("aman> ", fg="cyan", bold=True))
        sys.stdout.write(delta)
        sys.stdout.flush()
        self.wrote = True
        self._mid_line = not delta.endswith("\n")

    def note(self, line: str) -> None:
        self.newline()
        click.echo(style(line, dim=True))

    def newline(self) -> None:
        if self._mid_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._mid_line = False


@click.command()
@click.argument("text")
@click.option("--agent", help="Agent of a new session.")
@click.option("--session", "session_id", help="Send into this session (default: a new one).")
@click.option("--no-wait", is_flag=True, help="Return once the message is accepted.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds to wait for the reply.")
@common_options
def send(text: str, agent: str | None, session_id: str | None, no_wait: bool,
         timeout: float) -> None:
    """Send one message and print the reply (TEXT - reads stdin); exit 1 on a failed turn."""
    if text == "-":
        text = sys.stdin.read().strip()
    if not text:
        raise UsageError("nothing to send")
    with options().client() as api:
        sid = session_id or _create(api, agent)["id"]
        answer = api.post(f"/chat/session/{sid}/send", {"text": text, "wait": not no_wait})
        answer["session_id"] = sid
        if no_wait:
            emit(answer, lambda a: click.echo(a["session_id"]))
            return
        reply = answer.get("reply") or _wait_reply(api, sid, answer["message_id"], timeout)
    answer["reply"] = reply
    emit(answer, lambda a: click.echo(a["reply"]["content"]))
    if reply["status"] != "complete":
        error = reply.get("error") or {}
        if not options().json:
            click.echo(f"aman: the reply {reply['status']}: {error.get('message', '')}".rstrip(),
                       err=True)
            if error.get("hint"):
                click.echo(f"hint: {error['hint']}", err=True)
        click.get_current_context().exit(1)


def _wait_reply(api: ApiClient, session_id: str, message_id: str,
                timeout: float) -> dict[str, Any]:
    """Poll the session until the reply to ``message_id`` is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/chat/session/{session_id}/state")
        messages = state["messages"]
        ids = [m["id"] for m in messages]
        after = messages[ids.index(message_id) + 1:] if message_id in ids else []
        replies = [m for m in after if m["role"] == "assistant"]
        if replies and replies[0]["status"] != "streaming" and state["state"] not in _BUSY:
            return dict(replies[0])
        time.sleep(0.2)
    raise CliError(f"no reply within {timeout:.0f}s",
                   f"read it later with `aman sessions show {session_id}`")
