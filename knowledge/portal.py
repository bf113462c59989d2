"""The public help portal's pages, rendered on the server (no script at all).

Everything that came from an author is either the sanitised HTML of
``render.to_html`` or escaped here; the pages also go out with a
Content-Security-Policy that forbids scripts (see the gateway's portal
routes), so a payload that slipped through would still not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: http:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    snippet_html: str
    """Already safe: escaped text with ``<mark>`` around matches."""


def _page(title: str, body: str, lang: str = "en") -> str:
    return (
        f'<!doctype html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Help</title>"
        '<link rel="stylesheet" href="/static/kb.css"></head>'
        f'<body><header><a class="home" href="/kb/">Help center</a>'
        '<form class="search" action="/kb/" method="get" role="search">'
        '<input type="search" name="q" aria-label="Search the help center" '
        'placeholder="Search articles" maxlength="500">'
        '<button type="submit">Search</button></form></header>'
        f"<main>{body}</main></body></html>\n"
    )


def index_page(entries: Sequence[Entry], query: str, *, language: str | None = None) -> str:
    """The portal's front page: newest articles, or the answers to ``query``."""
    if query:
        heading = f"<h1>Results for “{escape(query)}”</h1>"
        empty = '<p class="empty">No article matches. Try other words.</p>'
    else:
        heading = "<h1>Help center</h1>"
        empty = '<p class="empty">No articles yet.</p>'
    items = "".join(
        f'<li class="article"><a href="/kb/{escape(e.id)}">{escape(e.title)}</a>'
        f'<p class="snippet">{e.snippet_html}</p></li>'
        for e in entries
    )
    listing = f'<ul class="articles">{items}</ul>' if entries else empty
    return _page("Help center", heading + listing, language or "en")


def article_page(
    *,
    article_id: str,
    title: str,
    html_body: str,
    language: str,
    updated: str,
    translations: Sequence[tuple[str, str]],
    thanks: bool,
) -> str:
    """One published article with "was this helpful" and its translations."""
    others = ""
    if translations:
        links = " ".join(
            f'<a href="/kb/{escape(i)}" hreflang="{escape(lang)}">{escape(lang)}</a>'
            for i, lang in translations
        )
        others = f'<p class="translations">Also in: {links}</p>'
    if thanks:
        feedback = '<p class="thanks" role="status">Thank you for your feedback.</p>'
    else:
        feedback = (
            f'<form class="feedback" method="post" action="/kb/{escape(article_id)}/feedback">'
            "<span>Was this helpful?</span>"
            '<button name="helpful" value="yes" type="submit">Yes</button>'
            '<button name="helpful" value="no" type="submit">No</button></form>'
        )
    body = (
        f'<article><h1>{escape(title)}</h1><p class="meta">Updated {escape(updated)}</p>'
        f'{others}<div class="body">{html_body}</div></article>{feedback}'
    )
    return _page(title, body, language)


def not_found_page() -> str:
    return _page(
        "Not found",
        '<h1>Not found</h1><p>There is no such article. <a href="/kb/">Back to the help '
        "center</a>.</p>",
    )


def search_link(query: str) -> str:
    return "/kb/?" + urlencode({"q": query})
