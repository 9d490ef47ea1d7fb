"""The HTTP edge as an attacker probed it: a real ``videoflix serve`` on the embedded default with ``DEBUG`` off,
requests sent over raw connections (httpx would normalise a malformed ``Host``). Every answer is JSON with a request
id and no traceback is logged for anything a client can send (S16, S18, S24)."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN
from tests.e2e.server import Server, create_staff, process_env

STAFF, PASSWORD = "staff@example.com", "correct-horse-battery"
SECRET = "e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json_error(self, status: int) -> dict[str, str]:
        """The contract's error: JSON ``{"detail", "request_id"}``, the id also in the ``x-request-id`` header."""
        assert self.status == status, (self.status, self.body[:300])
        assert self.headers.get("content-type", "").startswith("application/json"), (self.headers, self.body[:300])
        body = json.loads(self.body)
        assert isinstance(body["detail"], str) and body["detail"], body
        assert body["request_id"] == self.headers["x-request-id"], body
        return body  # type: ignore[no-any-return]


def send(server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    """One request exactly as given: no Host header added or repaired, no encoding of the body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def start(tmp_path: Path, **env: str) -> Server:
    settings = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET, CSRF_TRUSTED_ORIGINS=TEST_ORIGIN, **env
    )
    settings.pop("DEBUG", None)  # DEBUG=False, as probed
    server = Server(settings, tmp_path / "server.log")
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the checks that change nothing a later one depends on; the rate-limit and upload-limit tests
    start their own."""
    folder = tmp_path_factory.mktemp("edge")
    running = start(folder)
    running.folder = folder  # type: ignore[attr-defined]
    yield running
    running.stop()


def assert_no_traceback(server: Server) -> None:
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


HOST = {"Host": "127.0.0.1"}
JSON = {**HOST, "Content-Type": "application/json", "Origin": TEST_ORIGIN}


# --- Host (S24) -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost:evil.example",
        "localhost:@evil.example",
        "localhost:0",
        "localhost:65536",
        "localhost:",
        "localhost:8000:1",
        "[::1",
        "[fe80::1%25eth0]:8000",
        "evil example",
        "1.2.3.999",
        "",
    ],
)
def test_s24_a_malformed_host_gets_a_json_400_even_with_allowed_hosts_star(server: Server, host: str) -> None:
    for method, path, body in [("GET", "/api/health", b""), ("POST", "/api/login/", b'{"email": "a@b.c"}')]:
        answer = send(server, method, path, {**JSON, "Host": host}, body)
        assert answer.json_error(400)["detail"] == "Invalid host header."
    assert_no_traceback(server)


def test_s24_the_catalog_never_puts_a_forged_host_into_thumbnail_urls(server: Server) -> None:
    """``Host: localhost:@evil.example`` reached the catalog, whose absolute URLs then pointed at evil.example;
    well-formed hosts are still served."""
    env = process_env(VIDEOFLIX_DATA_DIR=str(server.folder / "data"), SECRET_KEY=SECRET)  # type: ignore[attr-defined]
    create_staff(env, STAFF, PASSWORD)
    cookie = login_cookie(server)
    answer = send(server, "GET", "/api/video/", {"Host": "localhost:@evil.example", "Cookie": cookie})
    answer.json_error(400)
    assert b"evil.example" not in answer.body
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "videoflix.example."):
        assert send(server, "GET", "/api/video/", {"Host": host, "Cookie": cookie}).status == 200, host


# --- bodies (S24) ---------------------------------------------------------------------------------------------

UNDECODABLE = {
    "nested 3,000 deep": b"[" * 3000 + b"]" * 3000,
    "objects nested 3,000 deep": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "nested 60,000 deep": b"[" * 60_000,
    "an invalid UTF-8 byte": b'{"new_password": "\xff", "confirm_password": "\xff"}',
    "a lone 0xff": b"\xff",
    "a lone surrogate": b'{"new_password": "\\ud800x", "confirm_password": "\\ud800x"}',
    "truncated": b'{"new_password": "abc',
    "a number too large": b'{"new_password": 1e999999}',
    "a UTF-16 body": '{"new_password": "x"}'.encode("utf-16"),
}


def test_s24_a_body_that_cannot_be_decoded_gets_a_json_400_without_a_traceback(server: Server) -> None:
    for name, body in UNDECODABLE.items():
        answer = send(server, "POST", "/api/password_confirm/MQ/abc/", JSON, body)
        assert answer.status == 400, name
        answer.json_error(400)
    assert_no_traceback(server)


def test_s24_undecodable_logins_count_against_the_rate_limit_before_they_are_parsed(tmp_path: Path) -> None:
    """LOGIN_RATE_LIMIT is 10: the 11th login from one address is refused, whatever its body."""
    server = start(tmp_path)
    try:
        deep = b"[" * 3000 + b"]" * 3000
        answers = [send(server, "POST", "/api/login/", JSON, deep) for _ in range(11)]
        for answer in answers[:10]:
            answer.json_error(400)
        answers[10].json_error(429)
        assert answers[10].headers["retry-after"]
    finally:
        server.stop()
    assert_no_traceback(server)
    lines = [line for line in server.log().splitlines() if "/api/login" in line]
    assert len(lines) == 11  # one access line per request, nothing else


# --- every error is JSON (S18) --------------------------------------------------------------------------------


ERRORS = [
    ("OPTIONS", "/api/login/", {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 400),
    ("OPTIONS", "/api/login/", {"Origin": TEST_ORIGIN, "Access-Control-Request-Method": "TRACE"}, 400),
    ("OPTIONS", "/api/login/", {"Origin": TEST_ORIGIN, "Access-Control-Request-Headers": "x-evil"}, 400),
    ("PUT", "/api/login/", {}, 405),
    ("DELETE", "/api/video/1/480p/000.ts", {}, 405),
    ("GET", "/nothing-here", {}, 404),
    ("GET", "/media/thumbnails/1-0123456789ab.jpg", {}, 404),
    ("GET", "/api/schema/nothing-here", {}, 404),
    ("GET", "/api/docs/assets/nothing-here.js", {}, 404),
    ("GET", "/api/video/1/480p/000.ts", {}, 401),
    ("POST", "/api/login/", {"Origin": "http://evil.example", "Content-Type": "application/json"}, 403),
    ("POST", "/api/login/", {"Origin": TEST_ORIGIN, "Content-Type": "text/plain"}, 415),
]


def test_s18_every_error_answer_is_json_with_a_request_id(server: Server) -> None:
    """Litestar's CORS refusal was plain text; the rest of the sweep keeps the others JSON."""
    for method, path, headers, status in ERRORS:
        body = b'{"email": "a@b.c", "password": "x"}' if method == "POST" else b""
        answer = send(server, method, path, {**HOST, **headers}, body)
        assert answer.status == status, (method, path, headers, answer.body[:200])
        answer.json_error(status)
    assert_no_traceback(server)
    # and an allowed preflight still gets its CORS answer (S14)
    headers = {**HOST, "Origin": TEST_ORIGIN, "Access-Control-Request-Method": "POST"}
    answer = send(server, "OPTIONS", "/api/login/", {**headers, "Access-Control-Request-Headers": "content-type"})
    assert answer.status == 204 and answer.headers["access-control-allow-origin"] == TEST_ORIGIN


# --- the upload limit counts every byte (S16) -------------------------------------------------------------------


def login_cookie(server: Server) -> str:
    """The Cookie header a browser would send after logging in (the cookies are Secure: DEBUG is off)."""
    login = httpx.post(
        f"{server.url}/api/login/", json={"email": STAFF, "password": PASSWORD}, headers={"Origin": TEST_ORIGIN}
    )
    assert login.status_code == 200, login.text
    return "; ".join(f"{name}={value}" for name, value in login.cookies.items())


def multipart_with_epilogue(boundary: str, epilogue: int) -> Iterator[bytes]:
    """A small, well-formed form, then ``epilogue`` bytes after the closing boundary, sent in 64 KiB chunks."""
    fields = [("title", "Epilogue"), ("category", "Drama"), ("description", "")]
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields)
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n\r\n'
    yield head.encode() + b"\x00" * 1000 + f"\r\n--{boundary}--\r\n".encode()
    chunk = b"x" * 65536
    for _ in range(epilogue // len(chunk)):
        yield chunk


@pytest.mark.parametrize(
    ("declared", "epilogue"),
    [(False, 3 * 1024 * 1024), (True, 1536 * 1024)],  # the second under the old allowance of limit + 1 MiB
    ids=["chunked", "content-length"],
)
def test_s16_an_epilogue_after_the_closing_boundary_counts_against_the_upload_limit(
    tmp_path: Path, declared: bool, epilogue: int
) -> None:
    server = start(tmp_path, MAX_UPLOAD_BYTES=str(1024 * 1024))
    try:
        env = process_env(VIDEOFLIX_DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET)
        create_staff(env, STAFF, PASSWORD)
        cookie = login_cookie(server)
        csrf = next(part.split("=", 1)[1] for part in cookie.split("; ") if part.startswith("csrftoken="))
        boundary = uuid.uuid4().hex
        body = multipart_with_epilogue(boundary, epilogue)
        response = httpx.post(
            f"{server.url}/api/admin/videos/",
            content=b"".join(body) if declared else body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Cookie": cookie,
                "X-CSRFToken": csrf,
                "Origin": TEST_ORIGIN,
            },
            timeout=60,
        )
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/json") and response.json()["request_id"]
        media = tmp_path / "data" / "media"
        assert [p for p in media.rglob("*") if p.is_file()] == []
        admin = httpx.get(f"{server.url}/api/admin/videos/", headers={"Cookie": cookie})
        assert admin.json() == []
    finally:
        server.stop()
