"""Alembic environment: runs on the connection the store hands in."""

from alembic import context
from sqlalchemy import create_engine

from conversations.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic revision --autogenerate` from a developer's shell
    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///autogen.sqlite3"
    with create_engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
