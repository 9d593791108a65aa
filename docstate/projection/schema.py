"""The projection's tables, as SQLAlchemy Core. Alembic migrations create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")

ID = sa.String(200)
NAME = sa.String(100)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("type", NAME, nullable=False),
    sa.Column("state", NAME, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # A closed status written before Temporal recorded it (see ProjectionWrite.confirmed):
    # the row shows it in ``status`` only once Temporal has closed the workflow.
    sa.Column("closing", sa.String(20)),
    sa.Column("parent_id", ID, index=True),
    sa.Column("root_id", ID, nullable=False, index=True),
    sa.Column("workflow_id", sa.String(255)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("content_size", sa.BigInteger),
    sa.Column("content_sha256", sa.String(64)),
    sa.Column("metadata", JSONDocument, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    # "all invoices in state parsed", "everything waiting": the queries people run.
    sa.Index(None, "type", "state"),
    sa.Index(None, "status"),
)

document_events = sa.Table(
    "document_events",
    metadata,
    sa.Column("document_id", ID, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("transition", NAME),
    sa.Column("from_state", NAME),
    sa.Column("to_state", NAME, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    # A transition's success whose result Temporal discarded (a later attempt of the step
    # ran, or the step ended waiting): kept for the record, not an outcome.
    sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("document_id", "seq"),
)

# The pipelines workers run, published at worker start: processes that import no pipeline
# code (the API, the CLI) learn the types and their graphs from here.
document_types = sa.Table(
    "document_types",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("spec", JSONDocument, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
)

# Slots of the per-key concurrency limit (docstate.engine.limits): a row is a running
# transition's lease on one of its fairness key's slots, held by the document's workflow.
# It lapses at ``expires_at`` unless renewed, so a workflow that ended without giving it
# back (terminated) holds no slot for good.
key_leases = sa.Table(
    "key_leases",
    metadata,
    sa.Column("key", ID, nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("key", "slot"),
)
