"""The document types workers publish: name, version (hash of the spec), spec.

Revision ID: 0003_document_types
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docstate.projection.schema import JSONDocument

revision = "0003_document_types"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_types",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("spec", JSONDocument, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_document_types"),
    )


def downgrade() -> None:
    op.drop_table("document_types")
