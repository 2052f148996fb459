"""pages learn Twilio's delivery reports: the page's message and the carrier's error code

A page was ``sent`` once Twilio accepted it, and its later delivery report reached only
the ``sms_messages`` row, which did not say which page it was. ``pages.message_id`` names
the page's outbound message (chosen before sending, so no report can come first; no
foreign key, since the message row is written after the page row); ``pages.error_code``
keeps the carrier's code of an undelivered page. Existing pages keep NULL in both.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pages", sa.Column("message_id", sa.Uuid(), nullable=True))
    op.add_column("pages", sa.Column("error_code", sa.Integer(), nullable=True))
    op.create_index("ix_pages_message_id", "pages", ["message_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_pages_message_id", table_name="pages")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("error_code")
        batch_op.drop_column("message_id")
