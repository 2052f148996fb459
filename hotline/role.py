"""The public role's core: what an internet-facing process holds, and nothing more.

It loads the case PUBLIC key and the hash key — never a private key — and builds the
group committer, intake and follow-up on them. The app factory and the CLI both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import keys
from hotline.commits import GroupCommitter
from hotline.followup import Followup
from hotline.intake import Intake
from hotline.keys import KeyedHash
from hotline.seal import Sealer
from hotline.settings import Settings


@dataclass(frozen=True)
class PublicRole:
    sealer: Sealer
    hasher: KeyedHash
    committer: GroupCommitter
    intake: Intake
    followup: Followup

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        *,
        on_commit: Callable[[Sequence[UUID]], None] = lambda _ids: None,
    ) -> PublicRole:
        sealer = keys.load_sealer(settings.keys_dir)
        hasher = keys.load_hash_key(settings.keys_dir)
        committer = GroupCommitter(
            engine,
            batch_max=settings.commit_batch_max,
            on_commit=on_commit,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )
        return cls(
            sealer=sealer,
            hasher=hasher,
            committer=committer,
            intake=Intake(sealer=sealer, hasher=hasher, committer=committer),
            followup=Followup(
                engine=engine,
                sealer=sealer,
                hasher=hasher,
                committer=committer,
                reporter_kdf_log2n=settings.reporter_kdf_log2n,
            ),
        )
