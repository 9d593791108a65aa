"""Create the projection: documents and document_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docstate.projection.schema import JSONDocument

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A migration is a frozen record of history: its columns are spelled out here rather
    # than derived from schema.py, which moves on with later revisions.
    op.create_table(
        "documents",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("state", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("parent_id", sa.String(200)),
        sa.Column("root_id", sa.String(200), nullable=False),
        sa.Column("workflow_id", sa.String(255)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("content_ref", sa.String(64)),
        sa.Column("content_size", sa.BigInteger),
        sa.Column("content_sha256", sa.String(64)),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_parent_id", "documents", ["parent_id"])
    op.create_index("ix_documents_root_id", "documents", ["root_id"])
    op.create_index("ix_documents_type_state", "documents", ["type", "state"])
    op.create_index("ix_documents_status", "documents", ["status"])
    op.create_table(
        "document_events",
        sa.Column("document_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("transition", sa.String(100)),
        sa.Column("from_state", sa.String(100)),
        sa.Column("to_state", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "seq", name="pk_document_events"),
    )


def downgrade() -> None:
    op.drop_table("document_events")
    op.drop_table("documents")
