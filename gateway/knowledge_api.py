"""The knowledge base over HTTP, the public help portal, and smart assist.

Staff (``/api/v1/articles``): agents write drafts and send them to review;
supervisors and admins approve, publish, archive (``knowledge.lifecycle``).
Anyone (``/api/v1/kb/...`` and the ``/kb/`` pages) sees published articles
only: a draft, scheduled, archived, expired or discarded article is 404 there,
by id as by search.

Smart assist (``GET .../suggestions``, sending an article into a
conversation) and insights (``GET /api/v1/insights/topics``) are answered
here from ``gateway/knowledge_runtime.py``, which also pushes suggestions
after customer messages.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import Field, field_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conversations import AppendRequest, AppendResult
from conversations.ids import new_id
from conversations.models import rfc3339
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound
from gateway.knowledge_runtime import KnowledgeRuntime
from knowledge import portal
from knowledge.articles import Article, Edit, Version, clean_keywords, diff, edit, move
from knowledge.errors import ArticleNotFound, IllegalMove, NotAllowed, NotEditable
from knowledge.lifecycle import AUTHORS, Status
from knowledge.render import to_html, to_text
from knowledge.store import Change, Hit, KnowledgeStore
from knowledge.text import snippet, terms

log = logging.getLogger(__name__)

Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=20)]
Keyword = Annotated[str, Field(min_length=1, max_length=60)]
Title = Annotated[str, Field(min_length=1, max_length=300)]
MarkdownBody = Annotated[str, Field(max_length=100_000)]
Product = Annotated[str, Field(min_length=1, max_length=100)]

SEARCH_LIMIT_MAX = 50
STORED_STATUSES = frozenset(s.value for s in Status if s not in (Status.SCHEDULED, Status.EXPIRED))
TEXT_MESSAGE_MAX = 1_500


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ArticleCreate(Body):
    title: Title
    body: MarkdownBody
    keywords: Annotated[list[Keyword], Field(max_length=30)] = Field(default_factory=list)
    language: Language = "en"
    product: Product | None = None
    translation_of: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    expires_at: datetime | None = None

    _aware = field_validator("expires_at")(_aware)


class ArticleEdit(Body):
    title: Title | None = None
    body: MarkdownBody | None = None
    keywords: Annotated[list[Keyword], Field(max_length=30)] | None = None
    language: Language | None = None
    product: Product | None = None
    expires_at: datetime | None = None

    _aware = field_validator("expires_at")(_aware)


class TransitionRequest(Body):
    to: Literal["in_review", "approved", "published", "archived", "discarded", "draft"]
    publish_at: datetime | None = None
    expires_at: datetime | None = None

    _aware = field_validator("publish_at", "expires_at")(_aware)


class SendArticle(Body):
    article_id: Annotated[str, Field(min_length=1, max_length=40)]
    mode: Literal["link", "text"] = "link"


class FeedbackRequest(Body):
    helpful: bool


class DeflectionEvent(Body):
    event: Literal["shown", "clicked", "chat_started"]
    article_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment.astimezone(UTC))


def article_wire(article: Article, version: Version, now: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "status": article.status_at(now).value,
        "version": article.version,
        "published_version": article.published_version,
        "live": article.live_at(now),
        "title": version.title,
        "body": version.body,
        "html": to_html(version.body),
        "keywords": list(version.keywords),
        "language": article.language,
        "product": article.product,
        "translation_of": article.translation_of,
        "publish_at": _time(article.publish_at),
        "expires_at": _time(article.expires_at),
        "created_by": article.created_by,
        "created_at": _time(article.created_at),
        "updated_at": _time(article.updated_at),
        "url": f"/kb/{article.id}",
    }


def _hit_wire(hit: Hit, words: list[str]) -> dict[str, Any]:
    plain, marked = snippet(hit.text, words)
    return {
        "id": hit.id,
        "title": hit.title,
        "snippet": plain,
        "snippet_html": marked,
        "score": hit.score,
        "status": hit.status.value,
        "language": hit.language,
        "product": hit.product,
    }


def _runtime(request: Request) -> KnowledgeRuntime:
    runtime: KnowledgeRuntime = request.app.state.knowledge
    return runtime


def _public(request: Request) -> KnowledgeRuntime:
    """The runtime, for the public endpoints; 404 when the portal is off."""
    runtime = _runtime(request)
    if not runtime.config.portal:
        raise NotFound("there is no public help center here")
    return runtime


def _widget_allowed(request: Request) -> KnowledgeRuntime:
    """The runtime, for the widget's endpoints: 404 when the portal is off,
    429 past ``[knowledge] widget_per_second`` for this client address."""
    runtime = _public(request)
    address = request.client.host if request.client is not None else "unknown"
    if not runtime.widget_limits.allow(address, time.monotonic()):
        raise GatewayError("too many requests; slow down", code="rate_limited", status=429)
    return runtime


def _limit(request: Request, default: int = 20) -> int:
    raw = request.query_params.get("limit", str(default))
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("limit must be a number", code="invalid_field") from None
    return max(1, min(value, SEARCH_LIMIT_MAX))


def _filter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and len(value) > 100:
        raise BadRequest(f"{name} is too long", code="invalid_field")
    return value


# -- staff: articles ------------------------------------------------------------


async def create_article(request: Request) -> Response:
    """Write a new article; it starts as a draft, version 1.
    ---
    summary: Create an article
    tags: [knowledge]
    body: ArticleCreate
    responses:
      201: {description: "the article"}
      400: {description: "invalid body"}
      403: {description: "not staff"}
      404: {description: "translation_of names no article"}
    """
    who = await user_caller(request, *AUTHORS)
    body = await parse_body(request, ArticleCreate)
    store, now = _runtime(request).store, _now()
    original: str | None = None
    if body.translation_of is not None:
        try:
            source, _ = await store.get(body.translation_of)
        except ArticleNotFound:
            raise NotFound("translation_of: no such article") from None
        original = source.translation_of or source.id
        root, _ = await store.get(original)
        taken = {lang for _, lang in await store.translations(original)} | {root.language}
        if body.language in taken:
            raise Conflict(
                f"the article already has a {body.language!r} version", code="translation_exists"
            )
    article = Article(
        id=new_id("art"),
        status=Status.DRAFT,
        version=1,
        last_version=1,
        published_version=None,
        language=body.language,
        product=body.product,
        translation_of=original,
        publish_at=None,
        expires_at=body.expires_at,
        created_by=who.id,
        created_at=now,
        updated_at=now,
    )
    version = Version(
        number=1,
        title=body.title.strip(),
        body=body.body,
        keywords=clean_keywords(body.keywords),
        author_id=who.id,
        created_at=now,
        updated_at=now,
    )
    await store.create(article, version)
    _runtime(request).articles_changed()
    return JSONResponse(article_wire(article, version, now), status_code=201)


async def _article_detail(
    store: KnowledgeStore, article: Article, version: Version, now: datetime
) -> dict[str, Any]:
    wire = article_wire(article, version, now)
    counters = await store.counters(article.id)
    wire.update(views=counters.views, helpful=counters.helpful, not_helpful=counters.not_helpful)
    original = article.translation_of or article.id
    siblings = await store.translations(original)
    if article.translation_of is not None:
        root, _ = await store.get(original)
        siblings = [(root.id, root.language), *siblings]
    wire["translations"] = [{"id": i, "language": lang} for i, lang in siblings if i != article.id]
    return wire


async def get_article(request: Request) -> Response:
    """One article as staff see it: working version, status, translations, counters.
    ---
    summary: Get an article
    tags: [knowledge]
    responses:
      200: {description: "the article"}
      404: {description: "no such article"}
    """
    await user_caller(request)
    store = _runtime(request).store
    article, version = await _get(store, request.path_params["id"])
    return JSONResponse(await _article_detail(store, article, version, _now()))


async def _get(store: KnowledgeStore, article_id: str) -> tuple[Article, Version]:
    try:
        return await store.get(article_id)
    except ArticleNotFound:
        raise NotFound("no such article") from None


async def edit_article(request: Request) -> Response:
    """Edit an article. A published one gets a new draft version and stays live.
    ---
    summary: Edit an article
    tags: [knowledge]
    body: ArticleEdit
    responses:
      200: {description: "the article"}
      400: {description: "invalid body"}
      404: {description: "no such article"}
      409: {description: "archived or discarded"}
    """
    who = await user_caller(request, *AUTHORS)
    body = await parse_body(request, ArticleEdit)
    given = body.model_fields_set
    if ("title" in given and body.title is None) or ("body" in given and body.body is None):
        raise BadRequest("title and body cannot be null", code="invalid_field")
    change = Edit(
        title=None if body.title is None else body.title.strip(),
        body=body.body,
        keywords=None if body.keywords is None else clean_keywords(body.keywords),
        language=body.language,
        product=body.product,
        set_product="product" in given,
        expires_at=body.expires_at,
        set_expiry="expires_at" in given,
    )
    now = _now()

    def work(article: Article, current: Version) -> Change:
        done = edit(article, current, change, author_id=who.id, now=now)
        return Change(done.article, done.version, done.new_version)

    store = _runtime(request).store
    try:
        result = await store.change(request.path_params["id"], work)
    except ArticleNotFound:
        raise NotFound("no such article") from None
    except NotEditable as exc:
        raise Conflict(str(exc), code="not_editable") from None
    _runtime(request).articles_changed()
    assert result.version is not None
    return JSONResponse(await _article_detail(store, result.article, result.version, now))


async def transition_article(request: Request) -> Response:
    """Move an article along its lifecycle (see docs/knowledge.md).
    ---
    summary: Change an article's status
    tags: [knowledge]
    body: TransitionRequest
    responses:
      200: {description: "the article"}
      400: {description: "invalid body"}
      403: {description: "the role may not make this move"}
      404: {description: "no such article"}
      409: {description: "the move is illegal from the current status"}
    """
    who = await user_caller(request)
    body = await parse_body(request, TransitionRequest)
    if body.publish_at is not None and body.to != "published":
        raise BadRequest("publish_at goes with to=published only", code="invalid_field")
    now = _now()

    def work(article: Article, current: Version) -> Change:
        moved = move(
            article,
            Status(body.to),
            role=who.role,
            now=now,
            publish_at=body.publish_at,
            expires_at=body.expires_at,
            set_expiry="expires_at" in body.model_fields_set,
        )
        return Change(moved)

    store = _runtime(request).store
    try:
        result = await store.change(request.path_params["id"], work)
    except ArticleNotFound:
        raise NotFound("no such article") from None
    except IllegalMove as exc:
        raise Conflict(str(exc), code="illegal_transition") from None
    except NotAllowed as exc:
        raise Forbidden(str(exc), code="forbidden") from None
    _runtime(request).articles_changed()
    article, version = await _get(store, result.article.id)
    return JSONResponse(await _article_detail(store, article, version, now))


async def list_article_versions(request: Request) -> Response:
    """Every version of an article, oldest first.
    ---
    summary: List an article's versions
    tags: [knowledge]
    responses:
      200: {description: "the versions"}
      404: {description: "no such article"}
    """
    await user_caller(request)
    store = _runtime(request).store
    article, _ = await _get(store, request.path_params["id"])
    versions = await store.versions(article.id)
    return JSONResponse(
        {
            "versions": [
                {
                    "number": v.number,
                    "title": v.title,
                    "author_id": v.author_id,
                    "created_at": _time(v.created_at),
                    "updated_at": _time(v.updated_at),
                    "working": v.number == article.version,
                    "published": v.number == article.published_version,
                }
                for v in versions
            ]
        }
    )


async def article_diff(request: Request) -> Response:
    """A unified diff between two versions (``from`` and ``to``, numbers).
    ---
    summary: Diff two versions of an article
    tags: [knowledge]
    responses:
      200: {description: "the diff"}
      400: {description: "from or to missing or not a number"}
      404: {description: "no such article or version"}
    """
    await user_caller(request)
    store = _runtime(request).store
    article, _ = await _get(store, request.path_params["id"])
    try:
        first = int(request.query_params["from"])
        second = int(request.query_params.get("to", article.version))
    except (KeyError, ValueError):
        raise BadRequest(
            "give from (and optionally to) as version numbers", code="invalid_field"
        ) from None
    old, new = await store.version(article.id, first), await store.version(article.id, second)
    if old is None or new is None:
        raise NotFound("no such version")
    return JSONResponse({"from": first, "to": second, "diff": diff(old, new)})


async def list_articles(request: Request) -> Response:
    """Staff search or listing over articles of any status (``q``, ``status``,
    ``product``, ``language``, ``limit``).
    ---
    summary: Search or list articles (staff)
    tags: [knowledge]
    responses:
      200: {description: "{articles: [{id, title, snippet, score}]}"}
      400: {description: "bad filter"}
    """
    await user_caller(request)
    status = _filter(request, "status")
    if status is not None and status not in STORED_STATUSES:
        known = ", ".join(sorted(STORED_STATUSES))
        raise BadRequest(f"status: expected one of {known}", code="invalid_field")
    return await _search(request, scope="staff", status=status)


async def public_search(request: Request) -> Response:
    """Search published articles; anyone may (the chat widget, the portal).
    ---
    summary: Search published articles
    tags: [knowledge]
    responses:
      200: {description: "{articles: [{id, title, snippet, score}]}"}
      400: {description: "bad filter"}
    """
    _public(request)
    return await _search(request, scope="public", status=None)


async def _search(
    request: Request, *, scope: Literal["staff", "public"], status: str | None
) -> Response:
    store, now = _runtime(request).store, _now()
    query = request.query_params.get("q", "")
    words = terms(query)
    options: dict[str, Any] = {
        "scope": scope,
        "now": now,
        "product": _filter(request, "product"),
        "language": _filter(request, "language"),
        "limit": _limit(request),
    }
    if status is not None:
        options["status"] = status
    if query.strip() and words:
        hits = await store.search(words, **options)
    elif query.strip():
        hits = []  # nothing searchable in it (punctuation only)
    else:
        hits = await store.listing(**options)
    return JSONResponse({"articles": [_hit_wire(h, words) for h in hits]})


# -- public: JSON and portal pages ------------------------------------------------


async def _live(
    store: KnowledgeStore, article_id: str, now: datetime
) -> tuple[Article, Version] | None:
    if len(article_id) > 40:
        return None
    try:
        article, _ = await store.get(article_id)
    except ArticleNotFound:
        return None
    if not article.live_at(now) or article.published_version is None:
        return None
    version = await store.version(article.id, article.published_version)
    return None if version is None else (article, version)


async def public_feedback(request: Request) -> Response:
    """Record "was this helpful" for a published article.
    ---
    summary: Rate a published article
    tags: [knowledge]
    body: FeedbackRequest
    responses:
      200: {description: "recorded"}
      400: {description: "invalid body"}
      404: {description: "not a published article"}
    """
    body = await parse_body(request, FeedbackRequest)
    store = _public(request).store
    found = await _live(store, request.path_params["id"], _now())
    if found is None:
        raise NotFound("no such article")
    await store.count(found[0].id, "helpful" if body.helpful else "not_helpful")
    return JSONResponse({"recorded": True})


WIDGET_SUGGESTIONS_MAX = 5


async def widget_suggestions(request: Request) -> Response:
    """Published articles for what a visitor is typing before a chat starts
    (deflection): ranked like an agent's suggestions, from memory, never a
    draft, scheduled, expired or archived one. ``q`` the text (its last
    1,000 characters count), ``language`` an optional language tag (its
    primary subtag must match), ``limit`` 1-5 (default 3). Rate-limited per
    client address.
    ---
    summary: Article suggestions for the chat widget
    tags: [knowledge]
    parameters:
      - {name: q, in: query, required: true, schema: {type: string}}
      - {name: language, in: query, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 5}}
    responses:
      200: {description: "{articles: [{id, title, snippet, url}]}"}
      400: {description: "bad limit or language"}
      404: {description: "the help center is off"}
      429: {description: "too many requests from this address"}
    """
    runtime = _widget_allowed(request)
    text = request.query_params.get("q", "")
    language = _filter(request, "language")
    limit = min(_limit(request, 3), WIDGET_SUGGESTIONS_MAX)
    found = await runtime.widget_suggestions(text, limit, language)
    return JSONResponse({"articles": found})


async def widget_deflection(request: Request) -> Response:
    """Count what the widget's pre-chat suggestions led to: ``shown`` (once a
    visit, when suggestions appeared), ``clicked`` (an article opened, with
    its ``article_id``, which must be published), ``chat_started`` (a chat
    started after suggestions were shown). Rate-limited per client address.
    ---
    summary: Count a deflection event
    tags: [knowledge]
    body: DeflectionEvent
    responses:
      200: {description: "recorded"}
      400: {description: "invalid body, or article_id missing for clicked"}
      404: {description: "not a published article, or the help center is off"}
      429: {description: "too many requests from this address"}
    """
    runtime = _widget_allowed(request)
    body = await parse_body(request, DeflectionEvent)
    now = _now()
    article_id = None
    if body.event == "clicked":
        if body.article_id is None:
            raise BadRequest("article_id: required for clicked", code="missing_field")
        found = await _live(runtime.store, body.article_id, now)
        if found is None:
            raise NotFound("no such article")
        article_id = found[0].id
    elif body.article_id is not None:
        raise BadRequest("article_id goes with clicked only", code="invalid_field")
    await runtime.store.record_deflection(body.event, article_id, now)
    return JSONResponse({"recorded": True})


def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        content,
        status_code=status,
        headers={
            "Content-Security-Policy": portal.CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


async def portal_index(request: Request) -> Response:
    """The public help center: newest published articles, or search results (``q``).
    ---
    summary: Help center front page (HTML)
    tags: [knowledge]
    responses:
      200: {description: "an HTML page"}
    """
    store, now = _public(request).store, _now()
    query = request.query_params.get("q", "")[:500]
    language = _filter(request, "language")
    words = terms(query)
    if query.strip():
        hits = await store.search(words, scope="public", now=now, language=language, limit=30)
    else:
        hits = await store.listing(scope="public", now=now, language=language, limit=50)
    entries = [portal.Entry(h.id, h.title, snippet(h.text, words)[1]) for h in hits]
    return _html(portal.index_page(entries, query, language=language))


async def portal_article(request: Request) -> Response:
    """One published article (HTML); 404 for anything not published.
    ---
    summary: A help center article (HTML)
    tags: [knowledge]
    responses:
      200: {description: "an HTML page"}
      404: {description: "not a published article"}
    """
    store, now = _public(request).store, _now()
    found = await _live(store, request.path_params["id"], now)
    if found is None:
        return _html(portal.not_found_page(), 404)
    article, version = found
    await store.count(article.id, "views")
    original = article.translation_of or article.id
    siblings = await store.translations(original)
    if article.translation_of is not None:
        siblings = [(original, ""), *siblings]
    translations = []
    for other_id, _ in siblings:
        other = await _live(store, other_id, now) if other_id != article.id else None
        if other is not None:
            translations.append((other[0].id, other[0].language))
    return _html(
        portal.article_page(
            article_id=article.id,
            title=version.title,
            html_body=to_html(version.body),
            language=article.language,
            updated=version.updated_at.strftime("%Y-%m-%d"),
            translations=translations,
            thanks=request.query_params.get("thanks") == "1",
        )
    )


async def portal_feedback(request: Request) -> Response:
    """The portal's "was this helpful" form (``helpful=yes|no``); back to the page.
    ---
    summary: Rate a help center article (HTML form)
    tags: [knowledge]
    responses:
      303: {description: "back to the article"}
      400: {description: "helpful is not yes or no"}
      404: {description: "not a published article"}
    """
    store = _public(request).store
    found = await _live(store, request.path_params["id"], _now())
    if found is None:
        return _html(portal.not_found_page(), 404)
    raw = await request.body()
    if len(raw) > 1000:
        raise BadRequest("the form is too large", code="too_large", status=413)
    # Parsed here: one field, and no dependency on python-multipart.
    answer = parse_qs(raw.decode("utf-8", "replace")).get("helpful", [""])[0]
    if answer not in ("yes", "no"):
        raise BadRequest("helpful: expected yes or no", code="invalid_field")
    await store.count(found[0].id, "helpful" if answer == "yes" else "not_helpful")
    return RedirectResponse(f"/kb/{found[0].id}?thanks=1", status_code=303)


# -- smart assist ---------------------------------------------------------------


async def conversation_suggestions(request: Request) -> Response:
    """Articles and similar closed conversations for what the customer wrote.
    ---
    summary: Suggestions for a conversation
    tags: [knowledge]
    responses:
      200:
        description: "articles [{id, title, score}], similar [{conversation_id, case_id, score}]"
      404: {description: "no such conversation (or not visible)"}
    """
    who = await user_caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    found = await _runtime(request).suggestions(conversation, who)
    return JSONResponse(found)


async def send_article(request: Request) -> Response:
    """Send a published article into a conversation, as a link or as text; the
    article is then linked to the conversation (and its case).
    ---
    summary: Send an article to the customer
    tags: [knowledge]
    body: SendArticle
    responses:
      201: {description: "the message sent"}
      400: {description: "invalid body"}
      403: {description: "not the assigned agent or a supervisor"}
      404: {description: "no such conversation"}
      409: {description: "the article is not published, or the conversation is closed"}
    """
    who = await user_caller(request, "agent", "supervisor", "admin")
    body = await parse_body(request, SendArticle)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    if not who.sees_everything and conversation.assigned_agent_id != who.id:
        raise Forbidden("only the assigned agent or a supervisor can send into it")
    if conversation.status == "closed":
        raise Conflict("the conversation is closed", code="closed")
    runtime = _runtime(request)
    found = await _live(runtime.store, body.article_id, _now())
    if found is None:
        raise Conflict("only a published article can be sent", code="not_published")
    article, version = found
    url = services.settings.public_url.rstrip("/") + f"/kb/{article.id}"
    if body.mode == "link":
        message_text = f"{version.title}\n{url}"
    else:
        plain = to_text(version.body)
        if len(plain) > TEXT_MESSAGE_MAX:
            plain = plain[:TEXT_MESSAGE_MAX].rsplit(" ", 1)[0] + "…"
        message_text = f"{version.title}\n\n{plain}\n\n{url}"
    result: AppendResult = await services.submit_message(
        AppendRequest(
            conversation_id=conversation.id,
            sender_role="agent",
            sender_id=who.id,
            sender_name=who.name,
            text=message_text,
            channel=conversation.channel,
            client_msg_id=new_id("kb"),
            attributes={"article": {"id": article.id, "version": version.number, "url": url}},
        )
    )
    case_id = conversation.to_wire().get("case_id")
    await runtime.store.link(
        article_id=article.id,
        version=version.number,
        conversation_id=conversation.id,
        case_id=case_id if isinstance(case_id, str) else None,
        sent_by=who.id,
        message_id=result.message.id,
        now=_now(),
    )
    return JSONResponse(
        {
            "message_id": result.message.id,
            "seq": result.message.seq,
            "article_id": article.id,
            "case_id": case_id,
            "text": message_text,
        },
        status_code=201,
    )


async def conversation_articles(request: Request) -> Response:
    """Articles sent into a conversation.
    ---
    summary: Articles linked to a conversation
    tags: [knowledge]
    responses:
      200: {description: "{links: [...]}"}
      404: {description: "no such conversation"}
    """
    who = await user_caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    links = await _runtime(request).store.links_of_conversation(conversation.id)
    for link in links:
        link["created_at"] = _time(link["created_at"])
    return JSONResponse({"links": links})


# -- insights --------------------------------------------------------------------


async def deflection_report(request: Request) -> Response:
    """What the widget's pre-chat article suggestions did in ``[since,
    until)`` (default: the last 7 days): visits they were shown in, articles
    clicked, chats started anyway, and the visits that did not start a chat
    (deflected) with their rate; and the most clicked articles.
    ---
    summary: Deflection by the widget's article suggestions
    tags: [knowledge]
    parameters:
      - {name: since, in: query, schema: {type: string, format: date-time}}
      - {name: until, in: query, schema: {type: string, format: date-time}}
    responses:
      200: {description: "{shown, clicked, chat_started, deflected, deflection_rate, articles}"}
      400: {description: "bad since or until"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, "supervisor", "admin")
    now = _now()
    until = _moment(request, "until", now)
    since = _moment(request, "since", until - timedelta(days=7))
    if since >= until:
        raise BadRequest("since must be before until", code="invalid_field")
    counted, clicked = await _runtime(request).store.deflections(since, until)
    shown = counted.get("shown", 0)
    started = counted.get("chat_started", 0)
    deflected = max(0, shown - started)
    return JSONResponse(
        {
            "since": _time(since),
            "until": _time(until),
            "shown": shown,
            "clicked": counted.get("clicked", 0),
            "chat_started": started,
            "deflected": deflected,
            "deflection_rate": round(deflected / shown, 3) if shown else None,
            "articles": [
                {"id": aid, "title": title, "clicks": clicks} for aid, title, clicks in clicked
            ],
        }
    )


def _moment(request: Request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(f"{name}: expected an RFC 3339 time", code="invalid_field") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def insights_topics(request: Request) -> Response:
    """Topics of the customers' first messages in ``[since, until)`` (default:
    the last 7 days), with volume, share and trend against the period before.
    ---
    summary: Topic insights
    tags: [knowledge]
    responses:
      200: {description: "{topics: [{label, terms, conversations, share, trend}]}"}
      400: {description: "bad since, until or k"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, "supervisor", "admin")
    now = _now()
    until = _moment(request, "until", now)
    since = _moment(request, "since", until - _runtime(request).config.topics_period)
    if since >= until:
        raise BadRequest("since must be before until", code="invalid_field")
    k_raw = request.query_params.get("k")
    try:
        k = None if k_raw is None else int(k_raw)
    except ValueError:
        raise BadRequest("k must be a number", code="invalid_field") from None
    if k is not None and not 1 <= k <= 50:
        raise BadRequest("k must be between 1 and 50", code="invalid_field")
    result = await _runtime(request).topics(since, until, k)
    return JSONResponse(result)


async def latest_topics(request: Request) -> Response:
    """The most recent stored topic run (scheduled or on demand).
    ---
    summary: Latest topic insights
    tags: [knowledge]
    responses:
      200: {description: "the run, as GET /api/v1/insights/topics answers"}
      403: {description: "not a supervisor or admin"}
      404: {description: "no run yet"}
    """
    await user_caller(request, "supervisor", "admin")
    found = await _runtime(request).store.latest_topic_run()
    if found is None:
        raise NotFound("no topic run yet")
    return JSONResponse(found)


routes = [
    Route("/api/v1/articles", create_article, methods=["POST"]),
    Route("/api/v1/articles", list_articles, methods=["GET"]),
    Route("/api/v1/articles/{id}", get_article, methods=["GET"]),
    Route("/api/v1/articles/{id}", edit_article, methods=["PATCH"]),
    Route("/api/v1/articles/{id}/transition", transition_article, methods=["POST"]),
    Route("/api/v1/articles/{id}/versions", list_article_versions, methods=["GET"]),
    Route("/api/v1/articles/{id}/diff", article_diff, methods=["GET"]),
    Route("/api/v1/kb/search", public_search, methods=["GET"]),
    Route("/api/v1/kb/articles/{id}/feedback", public_feedback, methods=["POST"]),
    Route("/api/v1/kb/suggestions", widget_suggestions, methods=["GET"]),
    Route("/api/v1/kb/deflections", widget_deflection, methods=["POST"]),
    Route("/api/v1/conversations/{id}/suggestions", conversation_suggestions, methods=["GET"]),
    Route("/api/v1/conversations/{id}/articles", send_article, methods=["POST"]),
    Route("/api/v1/conversations/{id}/articles", conversation_articles, methods=["GET"]),
    Route("/api/v1/insights/topics", insights_topics, methods=["GET"]),
    Route("/api/v1/insights/topics/latest", latest_topics, methods=["GET"]),
    Route("/api/v1/reports/deflection", deflection_report, methods=["GET"]),
    Route("/kb/", portal_index, methods=["GET"]),
    Route("/kb/{id}", portal_article, methods=["GET"]),
    Route("/kb/{id}/feedback", portal_feedback, methods=["POST"]),
]
