"""The table of script progress, on the store's one ``MetaData``.

One row per (conversation, script, step) once a step has been ticked; the
fingerprint ties it to the step's content (guidance/scripts.py). Migration:
conversations/migrations/versions/0011_guidance.py.
"""

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table

from conversations.schema import Time, metadata

script_progress = Table(
    "script_progress",
    metadata,
    Column("conversation_id", String(40), ForeignKey("conversations.id"), primary_key=True),
    Column("script", String(100), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("fingerprint", String(16), nullable=False),
    Column("done", Boolean, nullable=False),
    Column("done_by", String(40)),
    Column("done_by_name", String(200)),
    Column("done_at", Time),
    Column("result", JSON, nullable=False),
)
