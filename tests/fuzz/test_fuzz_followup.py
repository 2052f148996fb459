"""The follow-up page with any receipt and any added text: never a 5xx, never an escaped
exception; a right receipt always opens the tip, and what was added is kept."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.followup import MESSAGE_LIMIT
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.reliability import Counter
from tests.fuzz.test_fuzz_public_form import CONTENT_TYPE, VALUE, encode_pairs, post_raw
from tests.helpers import submit_and_read_receipt
from web.forms import clean

OPEN_EXPECTED = {200, 400, 413, 415, 422, 429}
ADDED = "Your information was added."

RECEIPT = st.one_of(
    VALUE,
    # Digits in every shape a person (or a bot) could type them.
    st.lists(st.sampled_from("0123456789 -٣੩８\u00a0\u200b."), min_size=10, max_size=30).map(
        "".join
    ),
    st.integers(0, 10**16 - 1).map(lambda n: f"{n:016d}"),
)


@pytest.fixture
async def receipt(fuzz_client: httpx.AsyncClient) -> str:
    return await submit_and_read_receipt(fuzz_client, "A man keeps their passports at the farm.")


@fuzz_settings()
@given(receipt=RECEIPT, extra=st.lists(st.tuples(VALUE, VALUE), max_size=4), ct=CONTENT_TYPE)
async def test_the_follow_up_page_answers_any_receipt_without_a_server_error(
    fuzz_client: httpx.AsyncClient,
    examples: Counter,
    receipt: str,
    extra: list[tuple[str, str]],
    ct: str,
) -> None:
    examples.tick()
    body = encode_pairs([("receipt", receipt), *extra])
    answer = await post_raw(fuzz_client, "/followup", body, ct)
    assert answer.status_code in OPEN_EXPECTED, answer.status_code
    assert answer.headers["content-type"].startswith("text/html")
    assert 'name="text"' not in answer.text  # no guess opened the one tip there is
    examples.saw(answer.status_code)


ADDITION = st.one_of(
    VALUE,
    st.integers(MESSAGE_LIMIT - 2, MESSAGE_LIMIT + 2).map(lambda n: "ü" * n),
)


@fuzz_settings(scale=0.5)
@given(
    text=ADDITION,
    typed_as=st.sampled_from(["grouped", "bare", "dashed", "padded"]),
    with_wrong_receipt=st.booleans(),
)
async def test_adding_any_text_with_a_right_or_wrong_receipt_never_fails_the_server(
    fuzz_client: httpx.AsyncClient,
    examples: Counter,
    receipt: str,
    text: str,
    typed_as: str,
    with_wrong_receipt: bool,
) -> None:
    examples.tick()
    bare = receipt.replace(" ", "")
    typed = {
        "grouped": receipt,
        "bare": bare,
        "dashed": "-".join(receipt.split()),
        "padded": f"  {receipt}\t",
    }[typed_as]
    if with_wrong_receipt:
        typed = str((int(bare) + 1) % 10**16).zfill(16)
    body = encode_pairs([("receipt", typed), ("text", text)])
    answer = await post_raw(fuzz_client, "/followup/add", body, None)
    examples.saw(answer.status_code)
    if answer.status_code == 413:
        return  # the body cap came first: nothing was read
    if with_wrong_receipt:
        assert answer.status_code == 200, answer.status_code
        assert 'name="text"' not in answer.text
        return
    # What the server reads: invalid UTF-8 replaced, then cleaned as every public field is.
    kept = clean(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    acceptable = 0 < len(kept) <= MESSAGE_LIMIT
    assert answer.status_code == (200 if acceptable else 400), answer.status_code
    assert 'name="text"' in answer.text  # the right receipt opened the tip either way
    assert (ADDED in answer.text) == acceptable
