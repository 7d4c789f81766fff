"""Reading shell text the way bash splits it: substitutions, heredocs, comments and operators.

Pure parsing; what the resulting simple commands may do is decided in ``commands``.
"""

from __future__ import annotations

import posixpath
import re
import shlex

_SUBSTITUTED = "__substitution__"  # what a $( ) leaves in the outer command: an unknown word
_PUNCT = ";&|()<>\n"
_OPERATOR = re.compile("|".join(map(re.escape,
                                    ("&>>", "<<<", ">>", "<<", "&&", "||", ";;", "|&", ">&", "<&",
                                     "&>", ">|", "<>", ";", "&", "|", "(", ")", "<", ">", "\n"))))


SEPARATORS = frozenset({";", ";;", "&&", "||", "|", "|&", "&", "(", ")", "\n"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
KEYWORDS = frozenset({"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while",
                       "until"})


ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_HEREDOC = re.compile(r"<<<|<<(-?)[ \t]*(\\?)(['\"]?)([^\s;&|()<>'\"\\]+)\3")


def tokenise(text: str) -> list[str]:
    """Split ``text`` into words and operator runs; newlines are operators (they end commands)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=_PUNCT)
    lexer.whitespace = " \t\r"  # newlines separate commands, so they are punctuation here
    lexer.whitespace_split = True
    lexer.commenters = ""  # prepare removed the comments, knowing where words start
    return list(lexer)


def split_operators(tokens: list[str]) -> list[tuple[bool, str]]:
    """Tokens as (is_operator, text); punctuation runs such as ``;(`` become separate operators."""
    items: list[tuple[bool, str]] = []
    for token in tokens:
        punctuation = token and all(c in _PUNCT for c in token)
        items.extend([(True, op) for op in _OPERATOR.findall(token)] if punctuation
                     else [(False, token)])
    return items


def prepare(text: str, *, literal: bool = False) -> tuple[str, list[str], list[str]]:
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
                subs.extend([] if quoted else prepare(body, literal=True)[1])
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


def simple_commands(items: list[tuple[bool, str]],
                     heredocs: list[str]) -> list[tuple[list[str], list[str], str | None]]:
    """Group operator-split tokens into simple commands, with the files written and stdin."""
    commands: list[tuple[list[str], list[str], list[str | None]]] = [([], [], [None])]
    i = 0
    while i < len(items):
        is_op, token = items[i]
        words, writes, stdin = commands[-1]
        if not is_op:
            words.append(token)
        elif token in SEPARATORS:
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
