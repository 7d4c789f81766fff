"""Pure rules turning what an MCP server offers into aman tools: names, schemas, levels, text.

- Names are ``mcp__<server>__<tool>`` with characters outside ``[A-Za-z0-9_-]`` replaced by
  ``_``; a name over 64 characters (the limit of the OpenAI and Anthropic tool formats) keeps its
  start and ends with ``_`` and 8 hex characters of a hash of the full name, so it stays unique.
- Input schemas are made acceptable to both formats: the top level is an ``object`` with
  ``properties``; a top-level ``$schema``, ``oneOf``/``anyOf``/``allOf``/``not`` or ``enum`` is
  dropped (both formats refuse them there).
- Sensitivity: ``medium`` by default; ``readOnlyHint`` on a ``trusted`` server is ``low``;
  ``destructiveHint`` is ``high``; an ``untrusted`` server's tools are never below ``medium``.
- Results are text: text blocks as they are, structured content as JSON (when no text block
  renders it already), images and audio
  replaced by a note, embedded resources by their text (or a note for binary ones).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from aman.mcp.settings import ToolFilter, Trust
from aman.tools.model import Sensitivity

PREFIX = "mcp"
#: The longest tool name the OpenAI and Anthropic tool formats accept.
MAX_NAME = 64
_HASH_CHARS = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: Top-level schema keys neither tool format accepts.
_TOP_LEVEL_REFUSED = ("$schema", "oneOf", "anyOf", "allOf", "not", "enum")
#: Tool descriptions are cut here: the model reads every one on every turn.
MAX_DESCRIPTION = 1024
READ_RESOURCE = "read_resource"
GET_PROMPT = "get_prompt"


def tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, sanitised and at most 64 characters."""
    full = f"{PREFIX}__{_UNSAFE.sub('_', server)}__{_UNSAFE.sub('_', tool)}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:_HASH_CHARS]
    return f"{full[:MAX_NAME - _HASH_CHARS - 1]}_{digest}"


def server_prefix(server: str) -> str:
    """The glob matching every tool of ``server`` (``mcp__git__*``)."""
    return f"{PREFIX}__{_UNSAFE.sub('_', server)}__*"


def wanted(tool: str, filters: ToolFilter, server: str) -> bool:
    """Whether ``include``/``exclude`` let ``tool`` through (its own or its aman name)."""
    names = (tool, tool_name(server, tool))

    def matches(patterns: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)

    return matches(filters.include) and not matches(filters.exclude)


def model_schema(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """An input schema both tool formats accept (see the module rules)."""
    schema = {k: v for k, v in (raw or {}).items() if k not in _TOP_LEVEL_REFUSED}
    schema["type"] = "object"
    properties = schema.get("properties")
    schema["properties"] = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    if required is not None and not (isinstance(required, list)
                                     and all(isinstance(r, str) for r in required)):
        del schema["required"]
    return schema


def description(text: str | None, fallback: str) -> str:
    """The description the model reads, capped."""
    shown = (text or "").strip() or fallback
    return shown if len(shown) <= MAX_DESCRIPTION else shown[:MAX_DESCRIPTION - 1] + "…"


def sensitivity(annotations: Mapping[str, Any] | None, trust: Trust) -> Sensitivity:
    """The level of one tool from its annotations and its server's trust."""
    hints = annotations or {}
    if hints.get("destructiveHint") is True:
        return Sensitivity.HIGH
    if hints.get("readOnlyHint") is True and trust == "trusted":
        return Sensitivity.LOW
    return Sensitivity.MEDIUM


def helper_sensitivity(trust: Trust) -> Sensitivity:
    """``read_resource`` and ``get_prompt`` only read: low on a trusted server."""
    return Sensitivity.LOW if trust == "trusted" else Sensitivity.MEDIUM


def result_text(content: Iterable[Mapping[str, Any]], structured: Any | None) -> str:
    """One text for the model from a tool result's content blocks and structured content."""
    blocks = list(content)
    parts = [block_text(block) for block in blocks]
    # Servers send structured content with its text rendering beside it; JSON only without one.
    if structured is not None and not any(b.get("type") == "text" for b in blocks):
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    return "\n".join(p for p in parts if p)


def block_text(block: Mapping[str, Any]) -> str:
    """One content block as text (media replaced by a note saying what was left out)."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        size = _decoded_size(block.get("data"))
        return f"[{kind} {block.get('mimeType') or block.get('mime_type') or ''} of {size} " \
               "bytes not shown: this channel carries text only]"
    if kind == "resource":
        return resource_text(block.get("resource") or {})
    if kind == "resource_link":
        return f"[resource {block.get('uri')}: {block.get('name') or ''}]"
    return json.dumps(dict(block), ensure_ascii=False, default=str)


def resource_text(resource: Mapping[str, Any]) -> str:
    """A resource's contents as text (a note for binary contents)."""
    if "text" in resource:
        return str(resource["text"])
    size = _decoded_size(resource.get("blob"))
    mime = resource.get("mimeType") or resource.get("mime_type") or "binary"
    return f"[{mime} resource {resource.get('uri', '')} of {size} bytes not shown]"


def _decoded_size(data: Any) -> int:
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data)
