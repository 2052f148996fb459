"""the queue's paging lookups use a partial index of open, paged tips

Almost every tip has no page state, so an index on ``page_state`` alone tells SQLite's
planner that a lookup matches most of the table; it then walked all open tips through
the queue index for every queue page. This index holds only open tips that were paged,
in queue order, and serves the alerts, the banner and the page sweep. The banner's
look at the latest pages gets an index on ``pages.created_at`` for the same reason.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PAGED_AND_OPEN = "page_state IS NOT NULL AND status != 'closed'"


def upgrade() -> None:
    op.drop_index("ix_tips_page_state", table_name="tips")
    op.create_index(
        "ix_tips_paging",
        "tips",
        ["page_state", "priority", "created_at", "id"],
        unique=False,
        sqlite_where=sa.text(PAGED_AND_OPEN),
        postgresql_where=sa.text(PAGED_AND_OPEN),
    )
    op.create_index("ix_pages_created", "pages", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pages_created", table_name="pages")
    op.drop_index("ix_tips_paging", table_name="tips")
    op.create_index("ix_tips_page_state", "tips", ["page_state"], unique=False)
