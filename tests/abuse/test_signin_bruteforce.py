"""Sign-in brute force: wrong passwords and wrong TOTP codes for one account lock it, and the
global bucket of failed sign-ins then answers 429 to everyone, right passwords included.

The single steps have their own tests in tests/integration/dashboard/test_signin.py (the
sixth wrong password locks; wrong codes count toward the lock; a flood of wrong passwords
answers 429); this one drives them together, as an attacker with a stolen password would.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
import redis.asyncio as aioredis

from tests.conftest import make_settings
from tests.fuzz.reliability import record_figures
from tests.integration.dashboard.test_signin import (
    LOCKED,
    PASSWORD,
    WRONG,
    board,
    enrolled_user,
    post_code,
    post_password,
    user_row,
)
from web.app import HotlineApp, create_app
from web.dashboard.signin import FLOODED

FAILURES_PER_MINUTE = 20
SESSION = "hotline_session"


@pytest.fixture
async def guarded_app(data_dir: Path, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    settings = make_settings(
        data_dir,
        key_passphrase="test passphrase",
        login_failures_per_minute=FAILURES_PER_MINUTE,
    )
    application = create_app(settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


async def test_wrong_passwords_and_codes_lock_the_account_then_the_flood_gets_429_for_all(
    guarded_app: HotlineApp,
) -> None:
    settings = guarded_app.state.dashboard.settings
    target_id, secret, _codes = await enrolled_user(guarded_app, "target")
    colleague_id, colleague_secret, _ = await enrolled_user(guarded_app, "colleague")
    failures = 0
    started = time.monotonic()
    async with board(guarded_app) as attacker, board(guarded_app) as colleague:
        # The colleague is half way through signing in when the attack starts.
        assert (await post_password(colleague, "colleague", PASSWORD)).status_code == 303

        for attempt in range(3):
            answer = await post_password(attacker, "target", f"guess number {attempt}")
            assert answer.status_code == 400
            assert WRONG in answer.text
            failures += 1
        # The password leaked; the second factor holds.
        stolen = await post_password(attacker, "target", PASSWORD)
        assert stolen.headers["location"] == "/dashboard/totp"
        answers = []
        while failures < settings.login_lock_after:
            answers.append(await post_code(attacker, f"{failures:06d}"))
            failures += 1
        assert [a.status_code for a in answers[:-1]] == [400] * (len(answers) - 1)
        assert answers[-1].status_code == 403
        assert LOCKED in answers[-1].text
        row = await user_row(guarded_app, target_id)
        assert row.failed_logins == settings.login_lock_after
        assert row.locked_until is not None

        # Locked: the right password and the right code open nothing.
        again = await post_password(attacker, "target", PASSWORD)
        assert again.status_code == 403
        assert LOCKED in again.text
        assert SESSION not in again.headers.get("set-cookie", "")
        assert pyotp.TOTP(secret).now()  # the code would not even be asked for

        # The flood goes on against any username until the global bucket is empty.
        first_429 = None
        for attempt in range(FAILURES_PER_MINUTE + 5):
            username = "target" if attempt % 2 else f"someone-{attempt}"
            answer = await post_password(attacker, username, f"spray {attempt}")
            if answer.status_code == 429:
                first_429 = failures
                break
            assert answer.status_code == 400, answer.status_code
            failures += 1
        assert first_429 is not None, "the flood emptied the bucket"
        # The bucket's burst, plus what it refilled while the attack ran (argon2 is slow).
        refilled = (time.monotonic() - started) * FAILURES_PER_MINUTE / 60
        assert FAILURES_PER_MINUTE <= first_429 <= FAILURES_PER_MINUTE + refilled + 1, first_429
        assert FLOODED in answer.text

        # Everyone is refused while the bucket is empty: a right password ...
        refused = await post_password(colleague, "colleague", PASSWORD)
        assert refused.status_code == 429
        assert SESSION not in refused.headers.get("set-cookie", "")
        # ... and the colleague's right code, on a sign-in begun before the flood.
        async with board(guarded_app) as other:
            assert (await post_password(other, "colleague", PASSWORD)).status_code == 429
        code = await post_code(colleague, pyotp.TOTP(colleague_secret).now())
        assert code.status_code == 429
    row = await user_row(guarded_app, colleague_id)
    assert row.locked_until is None  # the flood did not lock the colleague out for 30 minutes

    record_figures(
        "abuse",
        "signin_bruteforce",
        failures_to_lock=settings.login_lock_after,
        failures_before_global_429=first_429,
        failures_per_minute_setting=FAILURES_PER_MINUTE,
    )
