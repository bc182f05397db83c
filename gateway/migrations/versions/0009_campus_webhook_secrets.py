"""a campus system's webhook secret, with which it signs requests over HTTP

Revision ID: 0009_campus_webhook_secrets
Revises: 0008_saml_requests
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.db import UTCDateTime

revision: str = "0009_campus_webhook_secrets"
down_revision: str | Sequence[str] | None = "0008_saml_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campus_systems") as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campus_systems") as batch_op:
        batch_op.drop_column("webhook_secret_at")
        batch_op.drop_column("webhook_secret")
