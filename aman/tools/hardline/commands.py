"""The command rules: each simple command a script holds, checked by what its program does."""

from __future__ import annotations

import itertools
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from aman.tools.hardline.paths import (
    BLOCK_DEVICE,
    NO_HOME,
    Block,
    Operation,
    check_path,
    glob_parent,
    normalise_path,
)
from aman.tools.hardline.shell import (
    ASSIGNMENT,
    KEYWORDS,
    SEPARATORS,
    prepare,
    simple_commands,
    split_operators,
    tokenise,
)

_MAX_DEPTH = 8  # nesting of bash -c / $( ) / eval; honest commands stay far below
_SUSPICIOUS = re.compile(
    r"\b(rm|mkfs\S*|mke2fs|dd|kill|killall5|shutdown|reboot|halt|poweroff|init|telinit|systemctl"
    r"|chmod|chown|chgrp|wipefs|shred)\b"
    r"|\.ssh|\.bash|\.zsh|\.profile|\.env|\.netrc|\.pgpass|\.npmrc|\.pypirc|/etc/|/dev/|\(\s*\)\s*\{",
    re.IGNORECASE)


_POWER_VERBS = frozenset({"poweroff", "reboot", "halt", "kexec", "soft-reboot"})
_POWER_TARGETS = frozenset({"poweroff.target", "reboot.target", "halt.target", "kexec.target"})


def check_command(command: str | list[str], *, home: str | None = None,
                  cwd: str | None = None) -> Block | None:
    """Block an ``exec`` call (shell string, or argv run without a shell) on the hardline list."""
    start = _Call([], home or NO_HOME, cwd and normalise_path(cwd, home=home or NO_HOME))
    return _check_script(command, start) if isinstance(command, str) else start.argv(list(command))


@dataclass(frozen=True)
class _Call:
    """One simple command after parsing, with what it needs to check itself."""

    words: list[str]
    home: str
    cwd: str | None
    depth: int = 0  # how many bash -c / $( ) / eval levels down
    stdin: str | None = None  # a heredoc body or text echoed into this command's pipe
    writes: list[str] = field(default_factory=list)  # files its redirections write

    @property
    def args(self) -> list[str]:
        return self.words[1:]

    def block(self, rule: str, what: str) -> Block:
        shown = " ".join([shlex.join(self.words),
                          *(f"> {shlex.quote(t)}" for t in self.writes)]).strip()
        return Block(rule, f"{what}: `{(shown if len(shown) <= 120 else shown[:117] + '...')}`")

    def path(self, path: str, operation: Operation) -> Block | None:
        found = check_path(path, operation, home=self.home, cwd=self.cwd)
        return found and self.block(found.rule, found.reason)

    def norm(self, path: str) -> str:
        return normalise_path(path, home=self.home, cwd=self.cwd)

    def script(self, text: str) -> Block | None:
        return _check_script(text, replace(self, depth=self.depth + 1))

    def argv(self, words: list[str]) -> Block | None:
        return _check_argv(replace(self, words=words))


def _first(blocks: Iterable[Block | None]) -> Block | None:
    return next((block for block in blocks if block), None)


def _check_script(text: str, context: _Call) -> Block | None:
    if context.depth > _MAX_DEPTH:
        return Block("unparseable", f"commands nested more than {_MAX_DEPTH} levels deep")
    try:
        cleaned, substitutions, heredocs = prepare(text)
        items = split_operators(tokenise(cleaned))
    except ValueError as exc:
        found = _SUSPICIOUS.search(text)
        return found and Block("unparseable",
                               f"cannot parse the command ({exc}) and it mentions {found[0]!r}")
    if (block := _first(context.script(sub) for sub in substitutions)):
        return block
    if (block := _fork_bomb([token for _, token in items])):
        return block
    for words, writes, stdin in simple_commands(items, heredocs):
        call = replace(context, words=words, stdin=stdin, writes=writes)
        if (block := _first(call.path(target, "write") for target in writes) or _check_argv(call)):
            return block
        if call.words[:1] == ["cd"]:  # later commands run there (cd / && rm -rf *)
            target = call.words[1] if len(call.words) > 1 else "~"
            context = replace(context, cwd=None if target == "-" else call.norm(target))
    return None


def _fork_bomb(tokens: list[str]) -> Block | None:
    """A function whose body pipes or backgrounds a call to itself (``:(){ :|:& };:`` renamed)."""
    for i, word in enumerate(tokens):
        if word != "function" and (tokens[i + 1:i + 3] != ["(", ")"] or word in SEPARATORS):
            continue
        name = tokens[i + 1] if word == "function" and i + 1 < len(tokens) else word
        body = [t.strip("{}") or t
                for t in itertools.takewhile(lambda t: not t.endswith("}"), tokens[i + 1:])]
        if any(a == name and b in ("|", "&", "|&") for a, b in itertools.pairwise(body)):
            return Block("fork_bomb",
                         f"function {name!r} calls itself in a pipe or in the background")
    return None


def _check_argv(call: _Call) -> Block | None:
    words = list(itertools.dropwhile(lambda w: w in KEYWORDS or bool(ASSIGNMENT.match(w)),
                                     call.words))
    if not words:
        return None
    name = posixpath.basename(words[0]).lower()
    handler = _HANDLERS.get(name) or (_mkfs if name.startswith("mkfs") else None)
    return handler(replace(call, words=words)) if handler else None


def _operands(args: Sequence[str], value_options: Iterable[str] = (), *,
              leading: bool = False) -> list[str]:
    """The non-option words of ``args`` (after ``--`` every word is one); with ``leading``, all
    words from the first operand on, which is the command a wrapper runs."""
    found: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--" or (leading and (not args[i].startswith("-") or args[i] == "-")):
            return found + list(args[i + (args[i] == "--"):])
        if args[i].startswith("-") and args[i] != "-":
            i += 2 if args[i] in value_options else 1
        else:
            found.append(args[i])
            i += 1
    return found


def _cluster_has(args: Sequence[str], letter: str, long: str) -> bool:
    return any(w == long or (w.startswith("-") and (not w.startswith("--")) and letter in w)
               for w in args)


def _wrapper(value_options: Iterable[str] = (),
             positionals: int = 0) -> Callable[[_Call], Block | None]:
    """A command that runs the rest of its words as another one (sudo, nohup, timeout 5, ...)."""
    options = frozenset(value_options)
    return lambda call: call.argv(_operands(call.args, options, leading=True)[positionals:])


def _writes(value_options: Iterable[str] = ()) -> Callable[[_Call], Block | None]:
    """A command that writes every operand (tee, truncate, shred, wipefs)."""
    options = frozenset(value_options)
    return lambda call: _first(call.path(target, "write")
                               for target in _operands(call.args, options))


def _rm(call: _Call) -> Block | None:
    if "--no-preserve-root" in call.args:
        return call.block("rm_root", "--no-preserve-root asks to delete /")
    return _first(call.path(target, "delete") for target in _operands(call.args))


def _find(call: _Call) -> Block | None:
    args = list(itertools.dropwhile(lambda w: w in ("-H", "-L", "-P"), call.args))
    starts = list(itertools.takewhile(lambda w: not w.startswith(("-", "(", "!")), args))
    tests = [w for w in args[len(starts):]
             if w.startswith("-")
             and w not in ("-delete", "-depth", "-xdev", "-mount", "-mindepth", "-maxdepth")]
    if "-delete" in args and (not tests):  # an unfiltered -delete empties every start path
        if (block := _first(call.path(start, "delete") for start in starts or ["."])):
            return block
    for i, word in enumerate(args):
        if word in ("-exec", "-execdir", "-ok", "-okdir"):
            if (block := call.argv(list(itertools.takewhile(lambda w: w not in (";", "+"),
                                                            args[i + 1:])))):
                return block
    return None


_COPY_OPTIONS = frozenset({"-t", "-S", "--target-directory", "--suffix", "-m", "--mode", "-o",
                           "--owner", "-g", "--group", "-e", "--rsh", "--exclude", "--include",
                           "-f", "--filter"})


def _copy(call: _Call, *, move: bool = False) -> Block | None:
    """cp, mv, ln, install and rsync: each source may land at the target or inside it."""
    sources = _operands(call.args, _COPY_OPTIONS)
    target = next((call.args[i + 1] for i, w in enumerate(call.args[:-1])
                   if w in ("-t", "--target-directory")), None)
    target = target or next((w.split("=", 1)[1]
                             for w in call.args if w.startswith("--target-directory=")), None)
    if target is None:
        target = sources.pop() if len(sources) > 1 else "."
    landings = [target] + [posixpath.join(target, posixpath.basename(s.rstrip("/")))
                           for s in sources]
    moved = [call.path(source, "move") for source in sources] if move else []
    return _first(itertools.chain(moved, (call.path(landing, "write") for landing in landings)))


def _sed(call: _Call) -> Block | None:
    if (not _cluster_has(call.args, "i", "--in-place")
            and (not any(w.startswith("--in-place=") for w in call.args))):
        return None
    files = _operands(call.args, {"-e", "-f", "--expression", "--file", "-l", "--line-length"})
    scripted = any(w in ("-e", "-f") or w.startswith(("--expression", "--file")) for w in call.args)
    return _first(call.path(f, "edit") for f in (files if scripted else files[1:]))


def _dd(call: _Call) -> Block | None:
    for word in call.args:
        if word.startswith("of=") and BLOCK_DEVICE.match(call.norm(word[3:])):
            return call.block("dd_block_device", f"dd would overwrite the disk {word[3:]}")
        if word.startswith("of=") and (block := call.path(word[3:], "write")):
            return block
    return None


def _blocker(rule: str, what: str) -> Callable[[_Call], Block | None]:
    """A command blocked whatever its arguments."""
    return lambda call: call.block(rule, what)


_mkfs = _blocker("mkfs", "making a filesystem erases what was there")
_power = _blocker("power", "this stops or restarts the machine")


def _kill(call: _Call) -> Block | None:
    args = call.args[2:] if call.args[:1] in (["-s"], ["-n"]) else call.args
    # a lone "kill -1" is pid -1: every process the user may signal
    signal = len(args) > 1 and re.fullmatch("-[A-Za-z0-9+]+", args[0])
    return (call.block("kill_all", "pid -1 signals every process")
            if "-1" in args[1 if signal else 0:] else None)


def _power_verb(call: _Call) -> Block | None:
    operands = set(_operands(call.args,
                             {"-H", "-M", "-t", "-p", "-s", "-n", "-o", "--host", "--machine",
                              "--type", "--property", "--signal", "--lines", "--output"}))
    if operands & _POWER_VERBS or (operands & {"start", "isolate"} and operands & _POWER_TARGETS):
        return _power(call)
    return None


def _runlevel(call: _Call) -> Block | None:
    return _power(call) if _operands(call.args)[:1] in (["0"], ["6"]) else None


def _chmod(call: _Call) -> Block | None:
    recursive = _cluster_has(call.args, "R", "--recursive")
    for target in _operands(call.args):
        norm = call.norm(target)
        if (norm == "/" or (recursive and glob_parent(norm) == "/")
                or "--no-preserve-root" in call.args):
            return call.block("chmod_root", "changing the mode or owner of / breaks the system")
    return None


def _shell(call: _Call) -> Block | None:
    """``bash -c TEXT`` runs TEXT; a shell without a script runs what it reads on stdin."""
    args, i, command_mode = call.args, 0, False
    while i < len(args) and args[i][:1] in ("-", "+") and args[i] not in ("-", "--"):
        command_mode = command_mode or (not args[i].startswith("--") and "c" in args[i])
        i += 2 if args[i] in ("-o", "+o", "-O", "+O") else 1
    i += 1 if args[i:i + 1] == ["--"] else 0
    text = ((args[i] if i < len(args) else None) if command_mode
            else (call.stdin if i >= len(args) else None))
    return call.script(text) if text else None


def _su(call: _Call) -> Block | None:
    for i, word in enumerate(call.args):
        if word in ("-c", "--command") or word.startswith("--command="):
            return call.script(word[10:] if "=" in word else " ".join(call.args[i + 1:i + 2]))
    return None


def _env(call: _Call) -> Block | None:
    """``env -S TEXT`` splits TEXT into a command; else env runs the words after its options."""
    rest = _operands(call.args, {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
                     leading=True)
    for i, word in enumerate(call.args[:len(call.args) - len(rest)]):
        if word.startswith(("-S", "--split-string")):
            value = (call.args[i + 1] if word in ("-S", "--split-string")
                     else re.sub("^-S|^--split-string=", "", word))
            return call.script(" ".join([value, *rest]))
    return call.argv(rest)


def _command(call: _Call) -> Block | None:
    options = itertools.takewhile(lambda w: w.startswith("-"), call.args)
    if any("v" in word.lower() for word in options):
        return None  # command -v only looks the name up
    return call.argv(_operands(call.args, leading=True))


_HANDLERS: dict[str, Callable[[_Call], Block | None]] = {
    **dict.fromkeys(("rm", "unlink", "srm"), _rm),
    "find": _find,
    "mv": lambda call: _copy(call, move=True),
    **dict.fromkeys(("cp", "ln", "install", "rsync"), _copy),
    "tee": _writes(),
    "truncate": _writes({"-s", "-r", "--size", "--reference"}),
    "shred": _writes({"-n", "-s", "--iterations", "--size"}),
    "wipefs": _writes({"-o", "-t", "-O", "--offset", "--types", "--output"}),
    "blkdiscard": _writes({"-o", "-l", "-p", "--offset", "--length", "--step"}),
    "sed": _sed,
    "dd": _dd,
    **dict.fromkeys(("mke2fs", "mkswap", "newfs", "mkdosfs", "mkntfs"), _mkfs),
    "kill": _kill,
    "killall5": _blocker("kill_all", "killall5 signals every process"),
    **dict.fromkeys(("shutdown", "reboot", "halt", "poweroff"), _power),
    **dict.fromkeys(("systemctl", "loginctl"), _power_verb),
    **dict.fromkeys(("init", "telinit"), _runlevel),
    **dict.fromkeys(("chmod", "chown", "chgrp"), _chmod),
    **dict.fromkeys(("sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"), _shell),
    "eval": lambda call: call.script(" ".join(call.args)),
    **dict.fromkeys(("su", "runuser"), _su),
    "env": _env,
    "watch": lambda call: call.script(" ".join(_operands(call.args, {"-n", "--interval"},
                                                         leading=True))),
    "command": _command,
    "sudo": _wrapper({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "-R", "--user",
                      "--group", "--host", "--prompt", "--chdir", "--role", "--type",
                      "--other-user", "--chroot"}),
    "doas": _wrapper({"-u", "-C"}),
    "pkexec": _wrapper({"--user"}),
    "time": _wrapper({"-f", "-o", "--format", "--output"}),
    "exec": _wrapper({"-a"}),
    "nice": _wrapper({"-n", "--adjustment"}),
    "ionice": _wrapper({"-c", "-n", "-p", "--class", "--classdata"}),
    "stdbuf": _wrapper({"-i", "-o", "-e"}),
    "timeout": _wrapper({"-s", "-k", "--signal", "--kill-after"}, positionals=1),
    "chroot": _wrapper({"--userspec", "--groups"}, positionals=1),
    "xargs": _wrapper({"-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "--arg-file", "--delimiter",
                       "--max-args", "--max-procs", "--max-lines", "--max-chars", "--eof",
                       "--replace", "--process-slot-var"}),
    **dict.fromkeys(("nohup", "setsid", "builtin", "busybox", "unbuffer"), _wrapper()),
}
