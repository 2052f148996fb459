from __future__ import annotations

from web.limits import AttemptCounter, TokenBucket


def test_a_bucket_gives_its_burst_then_refuses() -> None:
    bucket = TokenBucket(per_minute=1, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.empty()


def test_attempts_on_one_code_are_bounded_and_others_are_not_affected() -> None:
    counter = AttemptCounter(limit=2, window_seconds=60)
    counter.record(b"a")
    assert not counter.exceeded(b"a")
    counter.record(b"a")
    assert counter.exceeded(b"a")
    assert not counter.exceeded(b"b")


def test_the_attempt_counter_forgets_the_oldest_codes_first() -> None:
    counter = AttemptCounter(limit=1, window_seconds=60, max_keys=2)
    for key in (b"a", b"b", b"c"):
        counter.record(key)
    assert not counter.exceeded(b"a")
    assert counter.exceeded(b"c")
