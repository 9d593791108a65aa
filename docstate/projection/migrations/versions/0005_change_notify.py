"""PostgreSQL: every statement that writes document rows sends one NOTIFY on commit.

The client's watcher LISTENs on ``docstate_documents`` and reads what changed at once,
instead of waiting for its next tick. A statement-level trigger rather than a NOTIFY from
the writer: it costs no extra round trip per batch, and every writer (the worker's, a
rebuild, a repair) notifies. PostgreSQL delivers it only when the transaction commits and
folds identical notifications of one transaction into one. SQLite has no LISTEN: there
the watcher ticks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANNEL = "docstate_documents"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION docstate_notify_documents() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER documents_notify
        AFTER INSERT OR UPDATE ON documents
        FOR EACH STATEMENT EXECUTE FUNCTION docstate_notify_documents()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS documents_notify ON documents")
    op.execute("DROP FUNCTION IF EXISTS docstate_notify_documents()")
