"""The Twilio webhook with valid signatures and any Body, From, NumMedia and MediaUrlN:
never a 5xx, never an escaped exception; always a TwiML answer."""

from __future__ import annotations

import secrets

import httpx
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_FROM
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.reliability import Counter
from tests.sms_helpers import PHONE, inbound_params, new_sid, post_signed

# Twilio sends valid UTF-8: lone surrogates cannot be in a request it signed.
TEXT_CHAR = st.characters(codec="utf-8")
BODY = st.one_of(
    st.text(TEXT_CHAR, max_size=200),
    st.sampled_from(
        [
            "",
            "STOP",
            " stop ",
            "Párar",
            "START",
            "HELP",
            "DELETE",
            "BORRAR",
            "ES",
            "EN",
            "ACK 1234",
            "ack",
            "ACK " + "9" * 40,
            "<Message>x</Message>",
            "]]><script>",
            "\x00\x01",
            "'; DROP TABLE sms_threads; --",
        ]
    ),
    st.tuples(st.sampled_from(["a", "ñ", "😀 "]), st.integers(1, 5_000)).map(
        lambda pair: pair[0] * pair[1]
    ),
)
SENDER = st.one_of(
    st.just(PHONE),
    st.sampled_from(
        ["", "+", "+1", "+99999999999999999999", "whatsapp:+14155550142", "client:bob", "00"]
    ),
    st.from_regex(r"\+?[0-9]{1,16}", fullmatch=True),
    st.text(TEXT_CHAR, max_size=30),
)
NUM_MEDIA = st.one_of(
    st.integers(-3, 12).map(str),
    st.sampled_from(["", "x", "1e3", "٣", " 2 ", "99999999999999999999999", "-0"]),
)
MEDIA_URL = st.one_of(
    st.just("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME"),
    st.text(TEXT_CHAR, max_size=60),
    st.sampled_from(["", "file:///etc/passwd", "http://127.0.0.1:6379/", "javascript:1"]),
)
SID = st.one_of(
    st.builds(new_sid),
    st.just("SM" + "0" * 32),  # repeated: the retry path
    st.sampled_from(["", "SM", "MM\x00"]),
    st.text(TEXT_CHAR, max_size=40),
)


@fuzz_settings()
@given(
    body=BODY,
    sender=SENDER,
    num_media=NUM_MEDIA,
    media=st.lists(st.tuples(MEDIA_URL, st.text(TEXT_CHAR, max_size=20)), max_size=11),
    sid=SID,
    extra=st.dictionaries(
        st.text(TEXT_CHAR, min_size=1, max_size=10), st.text(TEXT_CHAR, max_size=20)
    ),
)
async def test_the_sms_webhook_answers_twiml_to_any_signed_message(
    sms_client: httpx.AsyncClient,
    examples: Counter,
    body: str,
    sender: str,
    num_media: str,
    media: list[tuple[str, str]],
    sid: str,
    extra: dict[str, str],
) -> None:
    examples.tick()
    params = {**extra, **inbound_params(body, sender=sender, sid=sid or secrets.token_hex(2))}
    params["MessageSid"] = params["SmsMessageSid"] = params["SmsSid"] = sid
    params["NumMedia"] = num_media
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    answer = await post_signed(sms_client, params)
    examples.saw(answer.status_code)
    assert answer.status_code == 200, answer.status_code
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.text.startswith("<?xml")
    assert "<Response" in answer.text


STATUS = st.one_of(
    st.sampled_from(
        ["queued", "sent", "delivered", "undelivered", "failed", "received", "read", "canceled"]
    ),
    st.text(TEXT_CHAR, max_size=20),
)


@fuzz_settings(scale=0.5)
@given(sid=SID, status=STATUS, error_code=st.none() | st.text(TEXT_CHAR, max_size=8))
async def test_the_sms_status_callback_answers_204_to_any_signed_status(
    sms_client: httpx.AsyncClient,
    examples: Counter,
    sid: str,
    status: str,
    error_code: str | None,
) -> None:
    examples.tick()
    params = {
        "AccountSid": TWILIO_ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": PHONE,
        "From": TWILIO_FROM,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = error_code
    answer = await post_signed(sms_client, params, path="/sms/twilio/status")
    examples.saw(answer.status_code)
    assert answer.status_code == 204, answer.status_code
