"""HTML from the outside world: sanitised before anyone renders it, and flattened to text.

Inbound mail HTML reaches agents' browsers, so it goes through ``nh3`` (an
allow-list sanitiser: no scripts, no event handlers, no ``javascript:``
URLs). Text for the transcript is derived from the sanitised HTML when a mail
has no plain part.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
)
_SKIP = frozenset({"script", "style", "head", "title"})


def sanitize_html(html: str) -> str:
    """Keep formatting, drop everything that can run or phone home."""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "blockquote":
            self._quote_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._quote_depth:
            # Mark quoted history the way plain-text mail does, so the same
            # stripping applies to HTML-only replies.
            data = "\n".join("> " + line for line in data.split("\n"))
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML document (blockquotes become ``>`` lines)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
