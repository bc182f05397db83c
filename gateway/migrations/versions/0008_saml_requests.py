"""SAML AuthnRequests awaiting their response, each answered at most once

Revision ID: 0008_saml_requests
Revises: 0007_campus_requests
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.db import UTCDateTime

revision: str = "0008_saml_requests"
down_revision: str | Sequence[str] | None = "0007_campus_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saml_requests",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("idp", sa.String(length=300), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("after_sign_in", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saml_requests_browser_hash", "saml_requests", ["browser_hash"])
    op.create_index("ix_saml_requests_created_at", "saml_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_saml_requests_created_at", table_name="saml_requests")
    op.drop_index("ix_saml_requests_browser_hash", table_name="saml_requests")
    op.drop_table("saml_requests")
