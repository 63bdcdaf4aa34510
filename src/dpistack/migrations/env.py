"""Alembic environment: runs migrations on the engine handed over in the config attributes."""

from alembic import context
from sqlalchemy import text

import dpistack.models  # noqa: F401  (registers every table on Base.metadata)
from dpistack.core.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Several workers may start at once: one migrates, the others wait.
        connection.execute(text("SELECT pg_advisory_lock(72177001)"))
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(72177001)"))
            connection.commit()
