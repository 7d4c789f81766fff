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

from aman.tools.hardline.commands import check_command
from aman.tools.hardline.paths import RULES, Block, Operation, check_path, normalise_path

__all__ = ["RULES", "Block", "Operation", "check_command", "check_path", "normalise_path"]
