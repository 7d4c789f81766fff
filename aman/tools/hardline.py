"""The never-approvable checks: commands and file changes no approval can lift.

Commands are parsed, not grepped: ``shlex`` splits a shell string on ``;``, ``&&``, ``||``, ``|``,
``&``, newlines and parentheses; ``$( )``, backticks, ``bash -c``, ``eval``, heredocs and text
piped into a shell, ``cd`` and wrappers (``sudo``, ``env``, ``nohup``, ``xargs``...) are looked
into, the plain arguments of other commands (``echo "rm -rf /"``) are not. Files that commands
write (redirections, ``tee``, ``cp``, ``mv``, ``sed -i``, ``dd of=``, ``rm``...) go through
``check_path``.

Decisions: input with unbalanced quotes is refused by bash, so it is allowed unless it mentions a
hardline command or a protected name, which bash may still reach on an earlier line (rule
``unparseable``; also for nesting deeper than ``_MAX_DEPTH``). A quoted operator (``";"``) splits
like a real one, erring towards blocking. Protected names match anywhere, case-insensitively;
``.env.example`` and other templates stay writable. What a static check cannot see (variables
other than ``$HOME``, ``base64 -d | sh``, other languages, symlinks, relative paths without a
``cwd``) is left to the approval dialog and to workspace confinement.
"""

from __future__ import annotations

import itertools
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Literal

Operation = Literal["write", "edit", "move", "delete"]

#: Every rule id a ``Block`` can carry, with what it stands for (stable: audit and events use them).
RULES: dict[str, str] = {
    "rm_root": "deleting or moving / or all of its contents",
    "rm_home": "deleting or moving the home directory or a directory above it",
    "rm_system_dir": "deleting or moving a top-level system directory such as /usr or /etc",
    "fork_bomb": "a shell function that pipes or backgrounds calls to itself",
    "mkfs": "making a filesystem (mkfs*, mke2fs, mkswap, newfs)",
    "dd_block_device": "dd writing onto a block device",
    "write_block_device": "redirecting, copying, wiping or shredding onto a block device",
    "kill_all": "signalling every process (kill -1, killall5)",
    "power": "shutdown, reboot, halt or poweroff, directly or through systemctl or init",
    "chmod_root": "chmod, chown or chgrp of / (recursively, or of / itself)",
    "protected_file": ("changing SSH files, shell rc files, credential files, .env or /etc account "
                       "files"),
    "unparseable": "a command that cannot be parsed and mentions something on this list",
}

_MAX_DEPTH = 8  # nesting of bash -c / $( ) / eval; honest commands stay far below
_NO_HOME = "/\x00home"  # stands for home when the caller gave none; no real path matches it
_SUBSTITUTED = "__substitution__"  # what a $( ) leaves in the outer command: an unknown word
_PUNCT = ";&|()<>\n"
_OPERATOR = re.compile("|".join(map(re.escape,
                                    ("&>>", "<<<", ">>", "<<", "&&", "||", ";;", "|&", ">&", "<&",
                                     "&>", ">|", "<>", ";", "&", "|", "(", ")", "<", ">", "\n"))))
_SEPARATORS = frozenset({";", ";;", "&&", "||", "|", "|&", "&", "(", ")", "\n"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_KEYWORDS = frozenset({"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while",
                       "until"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_GLOB = re.compile(r"[*?\[]")
_HEREDOC = re.compile(r"<<<|<<(-?)[ \t]*(\\?)(['\"]?)([^\s;&|()<>'\"\\]+)\3")
_BLOCK_DEVICE = re.compile(r"/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|disk/"
                           r"|mapper/|dm-\d|md\d|loop\d|nbd\d|sr\d|root$)")
_SUSPICIOUS = re.compile(
    r"\b(rm|mkfs\S*|mke2fs|dd|kill|killall5|shutdown|reboot|halt|poweroff|init|telinit|systemctl"
    r"|chmod|chown|chgrp|wipefs|shred)\b"
    r"|\.ssh|\.bash|\.zsh|\.profile|\.env|\.netrc|\.pgpass|\.npmrc|\.pypirc|/etc/|/dev/|\(\s*\)\s*\{",
    re.IGNORECASE)
_SYSTEM_DIRS = frozenset({"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
                          "/proc", "/root", "/sbin", "/sys", "/usr", "/var", "/users", "/system",
                          "/library"})
_RC_FILES = frozenset({".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases",
                       ".profile", ".zshrc", ".zprofile", ".zshenv", ".zlogin", ".zlogout",
                       ".kshrc", ".mkshrc", ".cshrc", ".tcshrc"})
_CREDENTIAL_FILES = frozenset({".netrc", ".pgpass", ".npmrc", ".pypirc"})
_ENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist"})
_ETC_FILES = frozenset({"/etc/sudoers", "/etc/passwd", "/etc/shadow", "/etc/gshadow", "/etc/group",
                        "/etc/doas.conf", "/etc/profile", "/etc/bashrc", "/etc/bash.bashrc",
                        "/etc/zshrc"})
_ETC_DIRS = ("/etc/sudoers.d/", "/etc/profile.d/", "/etc/zsh/")
_POWER_VERBS = frozenset({"poweroff", "reboot", "halt", "kexec", "soft-reboot"})
_POWER_TARGETS = frozenset({"poweroff.target", "reboot.target", "halt.target", "kexec.target"})
_VERBS = {"write": "writing", "edit": "editing", "move": "moving", "delete": "deleting"}


@dataclass(frozen=True)
class Block:
    """Why a call can never run: a stable ``rule`` id (a key of ``RULES``) and a human reason."""

    rule: str
    reason: str


def check_command(command: str | list[str], *, home: str | None = None,
                  cwd: str | None = None) -> Block | None:
    """Block an ``exec`` call (shell string, or argv run without a shell) on the hardline list."""
    start = _Call([], home or _NO_HOME, cwd and normalise_path(cwd, home=home or _NO_HOME))
    return _check_script(command, start) if isinstance(command, str) else start.argv(list(command))


def check_path(path: str, operation: Operation, *, home: str,
               cwd: str | None = None) -> Block | None:
    """Block a file tool's (or a command's) write, edit, move or delete no approval may allow."""
    norm = normalise_path(path, home=home, cwd=cwd)
    shown = path if norm in (path, path.rstrip("/")) or _NO_HOME in norm else f"{path} (= {norm})"
    verb = _VERBS[operation]
    if operation in ("move", "delete"):
        target = _glob_parent(norm)
        if target == "/":
            return Block("rm_root", f"{verb} {shown} would wipe the whole filesystem")
        if target.startswith("/") and (target == home or home.startswith(target + "/")):
            return Block("rm_home", f"{verb} {shown} would wipe the home directory")
        if target.lower() in _SYSTEM_DIRS:
            return Block("rm_system_dir", f"{verb} {shown} would break the operating system")
    elif _BLOCK_DEVICE.match(norm):
        return Block("write_block_device", f"{verb} {shown} would overwrite a disk")
    what = _protected(norm)
    return (Block("protected_file", f"{verb} {shown} is never allowed: it is {what}")
            if what else None)


def normalise_path(path: str, *, home: str, cwd: str | None = None) -> str:
    """``path`` with ``~``, ``$HOME``, ``${HOME}`` expanded, absolute from ``cwd``, ``..`` gone."""
    path = _expand_home(path, home)
    if cwd and (not path.startswith("/")):
        path = posixpath.join(_expand_home(cwd, home), path)
    path = posixpath.normpath(path) if path else path
    return "/" + path.lstrip("/") if path.startswith("/") else path


def _expand_home(path: str, home: str) -> str:
    for prefix in ("${HOME}", "$HOME", "~"):
        if path == prefix or path.startswith(prefix + "/"):
            return home + path[len(prefix):]
    user = re.match("~([a-z_][a-z0-9_.-]*)(?=/|$)", path)
    if user:
        base = "/root" if user[1] == "root" else "/home/" + user[1]
        return base + path[user.end():]
    return path


def _glob_parent(path: str) -> str:
    """A path ending in a bare glob (``/*``, ``~/.*``) stands for the directory it empties."""
    head, tail = posixpath.split(path)
    if tail and _GLOB.search(tail) and (not tail.strip("*?.[]!")):
        return head or "."
    return path


def _may_be(part: str, name: str) -> bool:
    """Whether a path part is ``name`` or a glob bash expands to it (``*`` skips dotfiles)."""
    if not _GLOB.search(part):
        return part == name
    return (part.startswith(".") or not name.startswith(".")) and fnmatchcase(name, part)


def _protected(path: str) -> str | None:
    """What kind of protected file ``path`` is (see the module docstring), or None."""
    parts = [part.lower() for part in path.split("/") if part]
    if not parts:
        return None
    name, joined = parts[-1], "/" + "/".join(parts)
    if any(_may_be(part, ".ssh") for part in parts):
        return "SSH keys and config"
    if (re.search("/\\.config/fish/(config\\.fish$|conf\\.d/|functions/)", joined)
            or any(_may_be(name, rc) for rc in _RC_FILES)):
        return "a shell rc file"
    if any(_may_be(name, cred) for cred in _CREDENTIAL_FILES):
        return "a credentials file"
    if (_may_be(name, ".env") or (name.startswith(".env.") and name not in _ENV_TEMPLATES)
            or _may_be(name, ".env.local")):
        return "a .env secrets file"
    if path.startswith("/") and (any(_may_be(joined, f) for f in _ETC_FILES)
                                 or (joined + "/").startswith(_ETC_DIRS)):
        return "a system account, sudo or login file"
    return None


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
        cleaned, substitutions, heredocs = _prepare(text)
        items = _split_operators(_tokenise(cleaned))
    except ValueError as exc:
        found = _SUSPICIOUS.search(text)
        return found and Block("unparseable",
                               f"cannot parse the command ({exc}) and it mentions {found[0]!r}")
    if (block := _first(context.script(sub) for sub in substitutions)):
        return block
    if (block := _fork_bomb([token for _, token in items])):
        return block
    for words, writes, stdin in _simple_commands(items, heredocs):
        call = replace(context, words=words, stdin=stdin, writes=writes)
        if (block := _first(call.path(target, "write") for target in writes) or _check_argv(call)):
            return block
        if call.words[:1] == ["cd"]:  # later commands run there (cd / && rm -rf *)
            target = call.words[1] if len(call.words) > 1 else "~"
            context = replace(context, cwd=None if target == "-" else call.norm(target))
    return None


def _tokenise(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=_PUNCT)
    lexer.whitespace = " \t\r"  # newlines separate commands, so they are punctuation here
    lexer.whitespace_split = True
    lexer.commenters = ""  # _prepare removed the comments, knowing where words start
    return list(lexer)


def _split_operators(tokens: list[str]) -> list[tuple[bool, str]]:
    """Tokens as (is_operator, text); punctuation runs such as ``;(`` become separate operators."""
    items: list[tuple[bool, str]] = []
    for token in tokens:
        punctuation = token and all(c in _PUNCT for c in token)
        items.extend([(True, op) for op in _OPERATOR.findall(token)] if punctuation
                     else [(False, token)])
    return items


def _prepare(text: str, *, literal: bool = False) -> tuple[str, list[str], list[str]]:
    """Cut out what bash runs or reads apart: substitutions, heredoc bodies and comments."""
    out: list[str] = []
    subs: list[str] = []
    bodies: list[str] = []
    # heredocs waiting for their line: delimiter, quoted, strip tabs
    pending: list[tuple[str, bool, bool]] = []
    quote, i = "", 0
    while i < len(text):
        c, pair, step = text[i], text[i:i + 2], 1
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            c, step = "" if pair == "\\\n" else pair, 2
        elif pair == "$(" or c == "`" or (not quote and (not literal) and pair in ("<(", ">(")):
            end = text.find("`", i + 1) if c == "`" else _closing(text, i + 1)
            if end < 0:
                raise ValueError("no closing backtick")
            subs.append(text[i + (1 if c == "`" else 2):end])
            c, step = _SUBSTITUTED, end + 1 - i
        elif literal or (quote and c != '"'):
            pass
        elif c in "\"'":
            quote = "" if quote == c else c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;&|()"):
            end = text.find("\n", i)
            c, step = "", (len(text) if end < 0 else end) - i
        elif (heredoc := _HEREDOC.match(text, i)):
            if heredoc[0] != "<<<":
                pending.append((heredoc[4], bool(heredoc[2] or heredoc[3]), bool(heredoc[1])))
            c, step = heredoc[0] if heredoc[0] == "<<<" else "<< " + heredoc[4], heredoc.end() - i
        elif c == "\n" and pending:
            end = i + 1
            for delimiter, quoted, tabs in pending:
                end, body = _heredoc_body(text, end, delimiter, tabs)
                bodies.append(body)
                subs.extend([] if quoted else _prepare(body, literal=True)[1])
            pending, step = [], end - i
        out.append(c)
        i += step
    if quote:
        raise ValueError("no closing quotation")
    return "".join(out), subs, bodies


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start``, skipping quoted text."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "'":
            i += 1
        elif quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "()" and (depth := depth + (1 if c == "(" else -1)) == 0:
            return i
        i += 1
    raise ValueError("no closing parenthesis")


def _heredoc_body(text: str, i: int, delimiter: str, tabs: bool) -> tuple[int, str]:
    end = re.compile(("^\t*" if tabs else "^") + re.escape(delimiter) + "$",
                     re.MULTILINE).search(text, i)
    return (end.end() + 1, text[i:end.start()].removesuffix("\n")) if end else (len(text), text[i:])


def _fork_bomb(tokens: list[str]) -> Block | None:
    """A function whose body pipes or backgrounds a call to itself (``:(){ :|:& };:`` renamed)."""
    for i, word in enumerate(tokens):
        if word != "function" and (tokens[i + 1:i + 3] != ["(", ")"] or word in _SEPARATORS):
            continue
        name = tokens[i + 1] if word == "function" and i + 1 < len(tokens) else word
        body = [t.strip("{}") or t
                for t in itertools.takewhile(lambda t: not t.endswith("}"), tokens[i + 1:])]
        if any(a == name and b in ("|", "&", "|&") for a, b in itertools.pairwise(body)):
            return Block("fork_bomb",
                         f"function {name!r} calls itself in a pipe or in the background")
    return None


def _simple_commands(items: list[tuple[bool, str]],
                     heredocs: list[str]) -> list[tuple[list[str], list[str], str | None]]:
    """Group operator-split tokens into simple commands, with the files written and stdin."""
    commands: list[tuple[list[str], list[str], list[str | None]]] = [([], [], [None])]
    i = 0
    while i < len(items):
        is_op, token = items[i]
        words, writes, stdin = commands[-1]
        if not is_op:
            words.append(token)
        elif token in _SEPARATORS:
            piped = _piped_text(words, stdin[0]) if token in ("|", "|&") else None
            commands.append(([], [], [piped]))
        else:
            target = items[i + 1][1] if i + 1 < len(items) and (not items[i + 1][0]) else ""
            i += 1 if target else 0
            if words and len(words[-1]) == 1 and words[-1].isdigit():
                words.pop()  # the file descriptor of 2>file
            if token == "<<":
                stdin[0] = heredocs.pop(0) if heredocs else None
            elif token == "<<<":
                stdin[0] = target
            elif token in _WRITE_REDIRECTS and target and not (
                    token == ">&" and (target.isdigit() or target == "-")):
                writes.append(target)
        i += 1
    return [(w, r, s[0]) for w, r, s in commands if w or r]


def _piped_text(words: list[str], stdin: str | None) -> str | None:
    """What ``echo``, ``printf`` or ``cat <<EOF`` sends down a pipe, when it is literal text."""
    name = posixpath.basename(words[0]) if words else ""
    if name in ("echo", "printf"):
        return " ".join(w for w in words[1:] if not re.fullmatch("-[neE]+", w)).replace("\\n", "\n")
    return stdin if name == "cat" and len(words) == 1 else None


def _check_argv(call: _Call) -> Block | None:
    words = list(itertools.dropwhile(lambda w: w in _KEYWORDS or bool(_ASSIGNMENT.match(w)),
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
        if word.startswith("of=") and _BLOCK_DEVICE.match(call.norm(word[3:])):
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
        if (norm == "/" or (recursive and _glob_parent(norm) == "/")
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
