"""The console's Markdown renderer (aman/ui/static/js/markdown.js) in chromium: structure yes,
HTML and script URLs never."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.daemons import Daemon
from tests.ui.console import OpenConsole

pytestmark = pytest.mark.e2e

RENDER = """async (text) => {
  const { render } = await import('/ui/static/js/markdown.js');
  const box = document.createElement('div');
  box.append(render(text));
  return {html: box.innerHTML, text: box.textContent,
          tags: [...box.querySelectorAll('*')].map((el) => el.tagName.toLowerCase())};
}"""


def render(page: Any, text: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(RENDER, text)
    return result


def test_markdown_structure(daemon: Daemon, open_console: OpenConsole) -> None:
    page = open_console(daemon)
    found = render(page, "# Title\n\nSome *em*, **strong**, `code` and a_snake_name.\n\n"
                         "- one\n- two\n\n1. first\n\n> quoted\n\n```py\nx = '<b>'\n```")
    assert found["tags"] == ["h3", "p", "em", "strong", "code", "ul", "li", "li", "ol", "li",
                             "blockquote", "pre", "code"]
    assert "a_snake_name" in found["text"] and "x = '<b>'" in found["text"]


def test_html_and_unsafe_links_stay_text(daemon: Daemon, open_console: OpenConsole) -> None:
    page = open_console(daemon)
    found = render(page, '<img src=x onerror="alert(1)"><script>alert(2)</script>'
                         "<a href='javascript:alert(3)'>x</a> [click](javascript:alert(4)) "
                         "[ok](https://example.org/a) ![i](data:image/png;base64,AAAA)")
    assert found["tags"] == ["p", "a"]
    assert 'href="https://example.org/a"' in found["html"]
    assert "<img" in found["text"] and "<script>" in found["text"]
    assert "[click](javascript:alert(4))" in found["text"]
    assert 'rel="noopener noreferrer nofollow"' in found["html"]
