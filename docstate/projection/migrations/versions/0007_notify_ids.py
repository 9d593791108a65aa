"""PostgreSQL: a document-row change notification names the documents it changed.

Migration 0005's trigger sent an empty payload, so each notification made the watcher
read what changed for every document it watches: with 1,000 streams open, every read
carried 1,000 marks. Now the payload is the changed documents' ids, comma-separated
(an id never holds a comma), and the watcher reads those alone; its periodic tick still
reads everything, so a lost notification delays an event, never loses it. A statement
whose ids would not fit in a notification (PostgreSQL's limit is 8,000 bytes) sends the
empty payload, which still means "read everything".

PostgreSQL allows a transition table only on a trigger with one event, hence one trigger
for inserts and one for updates (an upsert fires both, each with its own rows).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHANNEL = "docstate_documents"
PAYLOAD_LIMIT = 7900  # bytes; PostgreSQL refuses a payload of 8,000 or more


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS documents_notify ON documents")
    op.execute(
        f"""
        CREATE FUNCTION docstate_notify_document_ids() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            ids text;
        BEGIN
            SELECT string_agg(DISTINCT id, ',') INTO ids FROM changed;
            IF ids IS NULL THEN
                RETURN NULL;
            END IF;
            IF octet_length(ids) > {PAYLOAD_LIMIT} THEN
                ids := '';
            END IF;
            PERFORM pg_notify('{CHANNEL}', ids);
            RETURN NULL;
        END
        $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER documents_notify_{event.lower()}
            AFTER {event} ON documents REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION docstate_notify_document_ids()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS documents_notify_{event} ON documents")
    op.execute("DROP FUNCTION IF EXISTS docstate_notify_document_ids()")
    # 0005's trigger again (its function is still there)
    op.execute(
        """
        CREATE TRIGGER documents_notify
        AFTER INSERT OR UPDATE ON documents
        FOR EACH STATEMENT EXECUTE FUNCTION docstate_notify_documents()
        """
    )
