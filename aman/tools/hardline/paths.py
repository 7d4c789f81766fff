"""The path rules: which files no write, edit, move or delete may touch, and path normalising."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
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
NO_HOME = "/\x00home"  # stands for home when the caller gave none; no real path matches it
GLOB = re.compile(r"[*?\[]")
BLOCK_DEVICE = re.compile(r"/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|disk/"
                           r"|mapper/|dm-\d|md\d|loop\d|nbd\d|sr\d|root$)")


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
_VERBS = {"write": "writing", "edit": "editing", "move": "moving", "delete": "deleting"}


@dataclass(frozen=True)
class Block:
    """Why a call can never run: a stable ``rule`` id (a key of ``RULES``) and a human reason."""

    rule: str
    reason: str


def check_path(path: str, operation: Operation, *, home: str,
               cwd: str | None = None) -> Block | None:
    """Block a file tool's (or a command's) write, edit, move or delete no approval may allow."""
    norm = normalise_path(path, home=home, cwd=cwd)
    shown = path if norm in (path, path.rstrip("/")) or NO_HOME in norm else f"{path} (= {norm})"
    verb = _VERBS[operation]
    if operation in ("move", "delete"):
        target = glob_parent(norm)
        if target == "/":
            return Block("rm_root", f"{verb} {shown} would wipe the whole filesystem")
        if target.startswith("/") and (target == home or home.startswith(target + "/")):
            return Block("rm_home", f"{verb} {shown} would wipe the home directory")
        if target.lower() in _SYSTEM_DIRS:
            return Block("rm_system_dir", f"{verb} {shown} would break the operating system")
    elif BLOCK_DEVICE.match(norm):
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


def glob_parent(path: str) -> str:
    """A path ending in a bare glob (``/*``, ``~/.*``) stands for the directory it empties."""
    head, tail = posixpath.split(path)
    if tail and GLOB.search(tail) and (not tail.strip("*?.[]!")):
        return head or "."
    return path


def _may_be(part: str, name: str) -> bool:
    """Whether a path part is ``name`` or a glob bash expands to it (``*`` skips dotfiles)."""
    if not GLOB.search(part):
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
