"""The knowledge base: articles and their lifecycle, search, suggestions while
an agent works, and topic insights.

Pure cores: ``lifecycle`` (the transition table), ``articles`` (edits, moves,
versions, diffs), ``render`` (safe Markdown), ``text`` (queries, snippets),
``suggest`` (suggested articles: ``porter``, ``bm25``, ``chargrams``, and
``fusion`` with an optional local sentence encoder's embeddings),
``similar`` (similar conversations) and ``topics`` (scikit-learn); no
hosted model. I/O: ``store`` (tables in ``tables``) and the gateway's
``knowledge_api``.
"""

from knowledge.articles import Article, Edit, Version, diff, edit, move
from knowledge.errors import ArticleNotFound, IllegalMove, KnowledgeError, NotAllowed
from knowledge.lifecycle import Status

__all__ = [
    "Article",
    "ArticleNotFound",
    "Edit",
    "IllegalMove",
    "KnowledgeError",
    "NotAllowed",
    "Status",
    "Version",
    "diff",
    "edit",
    "move",
]
