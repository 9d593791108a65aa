"""Drop documents.content_ref: it repeated content_sha256 and was never read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table, PostgreSQL drops the column in place.
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("content_ref")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("content_ref", sa.String(64)))
    op.execute("UPDATE documents SET content_ref = content_sha256")
