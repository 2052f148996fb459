"""POST /report with anything a browser, a bot or an attacker could send: never a 5xx and
never an escaped exception; always one of the answers the form is meant to give.

The transport raises whatever the app lets escape, so an unhandled exception fails the
example even when a handler would have turned it into a 500 page.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import httpx
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.reliability import Counter
from web.public import REPORT_FIELDS

EXPECTED = {200, 303, 400, 413, 415, 422, 429}

# Every Unicode code point, lone surrogates included: sent as the bytes Python's
# "surrogatepass" makes of them, which is not valid UTF-8.
ANY_CHAR = st.characters()
SPECIAL = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\n",
        "\u202e",
        "\ufeff",
        "\ud800",
        "\udfff",
        "e\u0301",
        "🧑‍🤝‍🧑",
        "%",
        "%zz",
        "&",
        "=",
        "+",
        "<script>alert(1)</script>",
        "'; DROP TABLE tips; --",
        "{{ 7*7 }}",
        "yes",
        "no",
        "unsure",
    ]
)
VALUE = st.one_of(
    st.text(ANY_CHAR, max_size=80),
    SPECIAL,
    st.lists(SPECIAL | st.text(ANY_CHAR, max_size=5), max_size=8).map("".join),
    # Huge: just under and over the field limits and the body cap.
    st.tuples(st.sampled_from(["x", "é", "😀", "\x00", "a "]), st.integers(1, 70_000)).map(
        lambda pair: pair[0] * pair[1]
    ),
)
NAME = st.one_of(
    st.sampled_from([*REPORT_FIELDS, "website", "lang", "receipt"]),
    st.text(ANY_CHAR, max_size=12),
)
PAIRS = st.lists(st.tuples(NAME, VALUE), max_size=12)
CONTENT_TYPE = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "text/plain",
            "application/json",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=zzz",
            "",
            ";;;",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
LANG = st.one_of(
    st.none(),
    st.sampled_from(["en", "es", "EN", "es-MX", "", "xx", "../../etc", "%ff%fe", "en\x00"]),
    st.text(ANY_CHAR, max_size=20),
)
ACCEPT_LANGUAGE = st.one_of(
    st.none(),
    st.sampled_from(["es", "es;q=x", ",,;", "*", "zz-ZZ;q=2, en;q=-1"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
)


def encode_pairs(pairs: list[tuple[str, str]]) -> bytes:
    """A form body as raw bytes, lone surrogates and all, duplicates kept in order."""
    return b"&".join(
        quote_from_bytes(name.encode("utf-8", "surrogatepass")).encode()
        + b"="
        + quote_from_bytes(value.encode("utf-8", "surrogatepass")).encode()
        for name, value in pairs
    )


def report_url(lang: str | None) -> str:
    if lang is None:
        return "/report"
    return "/report?lang=" + quote_from_bytes(lang.encode("utf-8", "surrogatepass"))


async def post_raw(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    content_type: str | None,
    accept_language: str | None = None,
) -> httpx.Response:
    headers = {}
    if content_type is not None:
        headers["content-type"] = content_type
    if accept_language is not None:
        headers["accept-language"] = accept_language
    return await client.post(url, content=body, headers=headers)


def check(answer: httpx.Response) -> None:
    assert answer.status_code in EXPECTED, answer.status_code
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/report/done/")
    else:
        assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers


@fuzz_settings()
@given(pairs=PAIRS, content_type=CONTENT_TYPE, lang=LANG, accept_language=ACCEPT_LANGUAGE)
async def test_the_report_form_answers_any_field_values_without_a_server_error(
    fuzz_client: httpx.AsyncClient,
    examples: Counter,
    pairs: list[tuple[str, str]],
    content_type: str,
    lang: str | None,
    accept_language: str | None,
) -> None:
    examples.tick()
    answer = await post_raw(
        fuzz_client, report_url(lang), encode_pairs(pairs), content_type, accept_language
    )
    check(answer)
    examples.saw(answer.status_code)


@fuzz_settings()
@given(
    body=st.one_of(
        st.binary(max_size=2_000),
        st.sampled_from([b"\xff\xfe", b"what=\xc3\x28", b"what=%ED%A0%80", b"%", b"&&&=&="]),
        st.integers(0, 200).map(lambda n: b"a=1&" * n),  # past the field cap
    ),
    content_type=st.none() | CONTENT_TYPE,
)
async def test_the_report_form_answers_any_raw_body_without_a_server_error(
    fuzz_client: httpx.AsyncClient,
    examples: Counter,
    body: bytes,
    content_type: str | None,
) -> None:
    examples.tick()
    answer = await post_raw(fuzz_client, "/report", body, content_type)
    check(answer)
    examples.saw(answer.status_code)


PART_HEADERS = st.one_of(
    st.sampled_from(
        [
            b'Content-Disposition: form-data; name="what"',
            b'Content-Disposition: form-data; name="where"',
            b'Content-Disposition: form-data; name="what"; filename="a.txt"',
            b'Content-Disposition: form-data; name="website"',
            b"Content-Disposition: form-data",
            b"Content-Disposition: attachment",
            b'Content-Disposition: form-data; name="\xff\xfe"',
            b'Content-Disposition: form-data; name="what"\r\nContent-Type: text/plain; charset=x',
            b"",
        ]
    ),
    st.binary(max_size=60),
)
PART = st.tuples(
    PART_HEADERS, st.binary(max_size=300) | VALUE.map(lambda v: v.encode("utf-8", "surrogatepass"))
)


@fuzz_settings()
@given(
    parts=st.lists(PART, max_size=6),
    boundary=st.sampled_from([b"b0undary", b"x", b"-" * 70]),
    declared=st.sampled_from(["same", "other", "none", "quoted"]),
    ending=st.sampled_from([b"--\r\n", b"--", b"", b"\r\n", b"junk"]),
    with_what=st.booleans(),
)
async def test_the_report_form_answers_any_multipart_body_without_a_server_error(
    fuzz_client: httpx.AsyncClient,
    examples: Counter,
    parts: list[tuple[bytes, bytes]],
    boundary: bytes,
    declared: str,
    ending: bytes,
    with_what: bool,
) -> None:
    examples.tick()
    if with_what:  # a well-formed first part, so the odd ones after it reach the intake
        parts = [(b'Content-Disposition: form-data; name="what"', b"A tip"), *parts]
    body = b"".join(
        b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
        for headers, content in parts
    )
    body += b"--" + boundary + ending
    content_type = {
        "same": f"multipart/form-data; boundary={boundary.decode()}",
        "other": "multipart/form-data; boundary=not-the-one",
        "none": "multipart/form-data",
        "quoted": f'multipart/form-data; boundary="{boundary.decode()}"',
    }[declared]
    answer = await post_raw(fuzz_client, "/report", body, content_type)
    check(answer)
    examples.saw(answer.status_code)
