"""The ``sla_instances`` table, on the store's single ``MetaData`` (migration 0006).

One row per KPI instance. ``status`` changes are compare-and-set
(``... WHERE status = <old>``), so two timers (a restart, a second node)
never announce the same warning twice. Due times are stored as computed in
business time; ``elapsed_seconds`` and ``run_started_at`` let a resume
recompute them without replaying history. ``generation`` counts the starts of
one subject's KPIs: a reactivated case starts them again as generation 1, 2...
(migration 0012).
"""

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, UniqueConstraint

from conversations.schema import Time, metadata

sla_instances = Table(
    "sla_instances",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("subject_kind", String(20), nullable=False),
    Column("subject_id", String(40), nullable=False),
    Column("sla", String(200), nullable=False),
    Column("kpi", String(100), nullable=False),
    Column("calendar", String(100)),
    Column("status", String(30), nullable=False),
    Column("warn_after_seconds", Float, nullable=False),
    Column("fail_after_seconds", Float, nullable=False),
    Column("started_at", Time, nullable=False),
    Column("run_started_at", Time, nullable=False),
    Column("warning_at", Time),
    Column("failure_at", Time),
    Column("completed_at", Time),
    Column("paused_at", Time),
    Column("elapsed_seconds", Float, nullable=False),
    Column("paused_seconds", Float, nullable=False),
    Column("warned", Boolean, nullable=False),
    Column("failed", Boolean, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("generation", Integer, nullable=False, server_default="0"),
    UniqueConstraint(
        "subject_kind", "subject_id", "sla", "kpi", "generation", name="uq_sla_instances_subject"
    ),
    Index("ix_sla_instances_status", "status"),
)
