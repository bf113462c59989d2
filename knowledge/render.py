"""Markdown to safe HTML, and to plain text for search and snippets.

markdown-it-py renders CommonMark with raw HTML turned off (a ``<script>``
in the source comes out as text), then nh3 (ammonia) keeps only an allow-list
of tags, attributes and URL schemes: no event handlers, no ``javascript:`` or
``data:`` URLs (so no SVG payloads), no styles. Both steps, because either
alone has let something through somewhere before.
"""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
SCHEMES = frozenset({"http", "https", "mailto"})


def to_html(markdown: str) -> str:
    """Render ``markdown`` to HTML that is safe to put in a page as is."""
    return nh3.clean(
        _markdown.render(markdown),
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def to_text(markdown: str) -> str:
    """The words a reader sees, for indexing and snippets (no markup)."""
    stripped = nh3.clean(_markdown.render(markdown), tags=set())
    return " ".join(html.unescape(stripped).split())
