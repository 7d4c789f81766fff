"""The ``http`` and ``web_fetch`` tools: one HTTP request as data, one page as readable text.

httpx is imported inside the handlers: the daemon's idle memory is tight and most agents never
make a request. Bodies are read as a stream and cut at the output cap, so a huge download costs
no more than the cap.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aman import __version__
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput, cap

if TYPE_CHECKING:
    import httpx

#: Most raw HTML ``web_fetch`` reads: pages are mostly markup, so far more than the text cap.
FETCH_MAX_BYTES = 5_000_000
_USER_AGENT = f"aman/{__version__}"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "+json", "+xml")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    return value


class HttpParams(BaseModel):
    """Parameters of ``http``: one request; ``body`` (text) or ``json``, not both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        "GET", description="HTTP method.")
    url: str = Field(description="An http:// or https:// URL.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    body: str | None = Field(None, description="Request body as text.")
    json_body: Any = Field(None, alias="json", description="Request body sent as JSON.")
    timeout_sec: float = Field(30.0, gt=0, le=300, description="Seconds before giving up.")
    follow_redirects: bool = Field(False, description="Follow 3xx redirects.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("json_body")
    @classmethod
    def _not_both(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("body") is not None:
            raise ValueError("give 'body' or 'json', not both")
        return value


class WebFetchParams(BaseModel):
    """Parameters of ``web_fetch``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: str = Field(description="An http:// or https:// URL.")
    max_chars: int = Field(20_000, ge=100, le=1_000_000, description="Longest text returned.")
    timeout_sec: float = Field(30.0, gt=0, le=300, description="Seconds before giving up.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return _http_url(value)


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def _failure(exc: Exception, method: str, url: str, timeout: float) -> ToolFailedError:
    """An httpx error as a message the model can act on."""
    import httpx

    what = f"{method} {url}"
    if isinstance(exc, httpx.ConnectTimeout | httpx.ReadTimeout | httpx.WriteTimeout
                  | httpx.PoolTimeout):
        return ToolFailedError(f"{what} timed out after {timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        return ToolFailedError(f"{what}: could not connect ({exc or 'connection failed'})")
    if isinstance(exc, httpx.TooManyRedirects):
        return ToolFailedError(f"{what}: too many redirects")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ToolFailedError(f"{what}: invalid URL ({exc})")
    return ToolFailedError(f"{what} failed: {type(exc).__name__}: {exc}")


def _transport(ctx: ToolContext) -> httpx.AsyncBaseTransport:
    """Connections only to addresses the network rules allow, checked on every redirect."""
    from aman.tools.addresses import NetworkPolicy
    from aman.tools.builtin.pinned import PinnedTransport

    return PinnedTransport(NetworkPolicy.parse(ctx.network_allow))


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def _is_text(content_type: str, data: bytes) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    if kind:
        return kind.startswith(_TEXT_TYPES) or kind.endswith(_TEXT_TYPES[-2:])
    return b"\x00" not in data[:4096]  # no type given: sniff


def _decode(response: httpx.Response, data: bytes) -> str:
    try:
        return data.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset in the header
        return data.decode("utf-8", errors="replace")


async def _http(params: HttpParams, ctx: ToolContext) -> ToolOutput:
    import httpx

    limit = ctx.max_output_bytes
    content: Any = params.body.encode() if params.body is not None else None
    try:
        async with httpx.AsyncClient(follow_redirects=params.follow_redirects,
                                     timeout=params.timeout_sec,
                                     transport=_transport(ctx)) as client:
            request = client.build_request(
                params.method, params.url, headers={"user-agent": _USER_AGENT, **params.headers},
                content=content, json=params.json_body)
            response = await client.send(request, stream=True)
            try:
                data, more = await _read(response, limit)
            finally:
                await response.aclose()
    except httpx.HTTPError as exc:
        raise _failure(exc, params.method, params.url, params.timeout_sec) from exc
    content_type = response.headers.get("content-type", "")
    size = response.headers.get("content-length") or (f"more than {limit}" if more else len(data))
    if not data:
        body, truncated = "", False
    elif _is_text(content_type, data):
        body, truncated = cap(_decode(response, data), limit)
        if more:
            body, truncated = (f"{body}\n[output truncated: body of {size} bytes, showing the "
                               f"first {limit}]"), True
    else:
        body, truncated = f"[binary body: {size} bytes, {content_type or 'no content-type'}]", more
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return ToolOutput({"status": response.status_code, "url": str(response.url),
                       "headers": headers, "body": body}, truncated=truncated)


# ---------------------------------------------------------------------------------------------
# HTML to text
# ---------------------------------------------------------------------------------------------

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "ul",
          "ol", "table", "tr", "form", "fieldset", "figure", "figcaption", "blockquote", "pre",
          "dl", "dt", "dd", "address", "details", "summary", "hr", "body"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source",
         "track", "wbr", "param"}


class _TextExtractor(HTMLParser):
    """HTML → plain text: no scripts or styles, headings marked, paragraphs kept apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip: list[str] = []
        self._in_title = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP and tag not in _VOID:
            self._skip.append(tag)
        elif self._skip:
            return
        elif tag == "br":
            self.parts.append("\n")
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append(f"\n\n{'#' * int(tag[1])} ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
        elif re.fullmatch(r"h[1-6]", tag) or tag in _BLOCK:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre = max(self._pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        # Outside <pre> whitespace is already one space, so only a <pre> line keeps its indent.
        lines = (line[1:] if line.startswith(" ") and not line.startswith("  ") else line
                 for line in (raw.rstrip() for raw in "".join(self.parts).splitlines()))
        text = re.sub(r"(?m)^(- |#+ ) +", r"\1", "\n".join(lines))
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> tuple[str, str]:
    """The readable text of an HTML page and its title."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text(), re.sub(r"\s+", " ", parser.title).strip()


async def _web_fetch(params: WebFetchParams, ctx: ToolContext) -> ToolOutput:
    import httpx

    try:
        async with httpx.AsyncClient(follow_redirects=True, timeout=params.timeout_sec,
                                     transport=_transport(ctx)) as client:
            request = client.build_request("GET", params.url, headers={
                "user-agent": _USER_AGENT, "accept": "text/html, text/*;q=0.9, */*;q=0.5"})
            response = await client.send(request, stream=True)
            try:
                data, _more = await _read(response, FETCH_MAX_BYTES)
            finally:
                await response.aclose()
    except httpx.HTTPError as exc:
        raise _failure(exc, "GET", params.url, params.timeout_sec) from exc
    if response.status_code >= 400:
        raise ToolFailedError(f"GET {params.url} answered {response.status_code} "
                              f"{response.reason_phrase}".rstrip())
    content_type = response.headers.get("content-type", "")
    if data and not _is_text(content_type, data):
        raise ToolFailedError(f"{params.url} is not text ({content_type or 'binary'}); use the "
                              "http tool to see its headers")
    raw = _decode(response, data)
    kind = content_type.split(";")[0].strip().lower()
    title = ""
    if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in raw[:2048]):
        text, title = html_to_text(raw)
    else:
        text = raw
    truncated = len(text) > params.max_chars
    if truncated:
        text = (f"{text[:params.max_chars]}\n[text truncated: {len(text)} characters, showing "
                f"the first {params.max_chars}]")
    text, capped = cap(text, ctx.max_output_bytes)
    return ToolOutput({"url": str(response.url), "status": response.status_code,
                       "content_type": content_type, "title": title, "text": text},
                      truncated=truncated or capped)


def http_tool() -> Tool:
    """The ``http`` tool: one request, its status, headers and a capped text body."""
    return Tool(
        name="http",
        description=(
            "Send one HTTP request (GET, POST, PUT, PATCH, DELETE or HEAD) to an http(s) URL, "
            "with optional headers and a 'body' (text) or 'json'. Returns status, headers and "
            "the body as text (capped; binary bodies are described, not returned). Redirects "
            "are not followed unless 'follow_redirects' is true."),
        params=HttpParams, sensitivity=Sensitivity.MEDIUM, handler=_http)


def web_fetch_tool() -> Tool:
    """The ``web_fetch`` tool: a page as readable text."""
    return Tool(
        name="web_fetch",
        description=(
            "Fetch a web page (following redirects) and return it as readable text: scripts and "
            "styles dropped, headings marked with #, paragraphs and link text kept, at most "
            "'max_chars' characters. Plain text and JSON pass through unchanged."),
        params=WebFetchParams, sensitivity=Sensitivity.LOW, handler=_web_fetch)
