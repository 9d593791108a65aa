"""Committed truth: a closed status waits in documents.closing until Temporal has it;
document_events.superseded marks a success whose result Temporal discarded.

Revision ID: 0004
Revises: 0003_document_types
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_document_types"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("closing", sa.String(20)))
    with op.batch_alter_table("document_events") as batch:
        batch.add_column(
            sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    # A provisional closed status becomes the status (what 0002 showed at once).
    op.execute("UPDATE documents SET status = closing WHERE closing IS NOT NULL")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("closing")
    with op.batch_alter_table("document_events") as batch:
        batch.drop_column("superseded")
