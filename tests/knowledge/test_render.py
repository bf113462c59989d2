"""Markdown rendering is safe whatever the author writes."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from knowledge.render import to_html, to_text

PAYLOADS = [
    "<script>alert(1)</script>",
    "hello <script src=https://evil.example/x.js></script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<img src=x onerror=alert(1)>",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<svg onload="alert(1)"><circle/></svg>',
    "<iframe src=https://evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](vbscript:msgbox(1))",
    "<details open ontoggle=alert(1)>",
]


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


SAFE_SCHEMES = ("http:", "https:", "mailto:")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_script_handler_or_dangerous_url_survives(payload: str) -> None:
    html = to_html(f"# Title\n\n{payload}\n\nafter")
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag not in {"script", "svg", "iframe", "style", "object", "embed", "details"}
        for name, value in attrs:
            assert not name.startswith("on"), (payload, html)
            assert name != "style", (payload, html)
            if name in ("href", "src"):
                assert (value or "").strip().lower().startswith(SAFE_SCHEMES), (payload, html)
    assert "<script" not in html.lower()


def test_markdown_still_renders() -> None:
    html = to_html(
        "# Refunds\n\nSome **bold** and a [link](https://example.com/help).\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```"
    )
    assert "<h1>Refunds</h1>" in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com/help" rel="noopener noreferrer nofollow">' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<pre><code>code" in html


def test_plain_text_has_the_words_without_markup() -> None:
    assert to_text("# Hi\n\n*a* &amp; **b** <b>c</b>") == "Hi a & b <b>c</b>"
