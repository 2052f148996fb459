"""A local stand-in for Twilio's REST API that records every request it receives.

The real ``twilio`` client is pointed at it through ``HOTLINE_TWILIO_API_URL`` (the
client's ``api.base_url``). It answers the few resources Hotline uses: creating a
message, listing and fetching a message's media, deleting messages and media. Planned
failures (``fail_next``) let tests see retries; ``hold_sends`` keeps the sender waiting
inside its call (the request recorded, the answer held back) until ``release_sends``;
``fail_number`` makes every message to one number get a Twilio error (21610 …).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/(\w+)\.json$")
_MEDIA_LIST = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/(\w+)/Media\.json$")
_MEDIA = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages/(\w+)/Media/(\w+)(\.json)?$")
# The messages of the few errors tests ask for, as Twilio words them.
ERROR_MESSAGES = {
    21211: "Invalid 'To' Phone Number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    authorized: bool


@dataclass
class Media:
    sid: str
    content_type: str
    data: bytes


@dataclass
class TwilioStandIn:
    account_sid: str
    requests: list[Recorded] = field(default_factory=list)
    media: dict[str, list[Media]] = field(default_factory=dict)
    # The sids of the messages it was asked to create, in order.
    created: list[str] = field(default_factory=list)
    # (method, path) -> statuses to answer, in order, before answering normally.
    failures: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _release: threading.Event | None = None
    # To number -> (Twilio error code, HTTP status) for every message sent to it.
    refused: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, method: str, path: str, *statuses: int) -> None:
        self.failures.setdefault((method, path), []).extend(statuses)

    def fail_number(self, number: str, *, code: int = 21610, status: int = 400) -> None:
        """Answer every message to ``number`` (E.164) with Twilio's error ``code``, in the
        shape Twilio gives it (code, message, more_info, status): 21610 is the answer for a
        number that texted STOP to our line."""
        with self._lock:
            self.refused[number] = (code, status)

    def hold_sends(self) -> None:
        """From now on, record each new message but hold its answer until released."""
        self._release = threading.Event()

    def release_sends(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release.set()

    def sent(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and _MESSAGES.match(r.path)]

    def deleted(self) -> list[str]:
        return [r.path for r in self.requests if r.method == "DELETE"]

    def message_path(self, sid: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"

    def media_path(self, sid: str, media_sid: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media/{media_sid}.json"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release_sends()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    standin: TwilioStandIn

    def log_message(self, format: str, *args: object) -> None:
        return

    def _record(self) -> Recorded:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        recorded = Recorded(
            self.command,
            self.path.split("?")[0],
            form,
            self.headers.get("authorization", "").startswith("Basic "),
        )
        with self.standin._lock:
            self.standin.requests.append(recorded)
        return recorded

    def _answer(self, status: int, body: bytes = b"", kind: str = "application/json"):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _planned_failure(self, recorded: Recorded) -> bool:
        with self.standin._lock:
            planned = self.standin.failures.get((recorded.method, recorded.path))
            status = planned.pop(0) if planned else None
        if status is None:
            return False
        error = {"code": 20500, "message": "stand-in failure", "status": status}
        self._answer(status, json.dumps(error).encode())
        return True

    def do_POST(self) -> None:
        recorded = self._record()
        if self._planned_failure(recorded):
            return
        if _MESSAGES.match(recorded.path):
            with self.standin._lock:
                refused = self.standin.refused.get(recorded.form.get("To", ""))
            if refused is not None:
                code, status = refused
                error = {
                    "code": code,
                    "message": ERROR_MESSAGES.get(code, f"Error {code}"),
                    "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status,
                }
                self._answer(status, json.dumps(error).encode())
                return
            release = self.standin._release
            if release is not None:
                release.wait(timeout=60)
            sid = "SM" + secrets.token_hex(16)
            with self.standin._lock:
                self.standin.created.append(sid)
            body = {
                "sid": sid,
                "account_sid": self.standin.account_sid,
                "status": "queued",
                "num_media": "0",
                "uri": self.standin.message_path(sid),
            }
            self._answer(201, json.dumps(body).encode())
            return
        self._answer(404, b"{}")

    def do_GET(self) -> None:
        recorded = self._record()
        if self._planned_failure(recorded):
            return
        if match := _MEDIA_LIST.match(recorded.path):
            sid = match.group(2)
            items = [
                {
                    "sid": m.sid,
                    "parent_sid": sid,
                    "account_sid": self.standin.account_sid,
                    "content_type": m.content_type,
                    "uri": self.standin.media_path(sid, m.sid),
                }
                for m in self.standin.media.get(sid, [])
            ]
            body = {
                "media_list": items,
                "page": 0,
                "page_size": 50,
                "first_page_uri": recorded.path,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": recorded.path,
            }
            self._answer(200, json.dumps(body).encode())
            return
        if (match := _MEDIA.match(recorded.path)) and not match.group(4):
            for m in self.standin.media.get(match.group(2), []):
                if m.sid == match.group(3) and recorded.authorized:
                    self._answer(200, m.data, m.content_type)
                    return
        self._answer(404, b"{}")

    def do_DELETE(self) -> None:
        recorded = self._record()
        if self._planned_failure(recorded):
            return
        if _MESSAGE.match(recorded.path) or _MEDIA.match(recorded.path):
            self._answer(204)
            return
        self._answer(404, b"{}")
