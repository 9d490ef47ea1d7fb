"""The frontend's whole account path against a real ``videoflix serve`` process and a real SMTP server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ORIGIN
from tests.e2e.server import Server, Worker, process_env
from tests.smtp_server import SmtpSink

PASSWORD = "first-password-123"
NEW_PASSWORD = "second-password-456"


def link_in(message: EmailMessage, page: str) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(TEST_ORIGIN)}/pages/auth/{page}\?uid=([\w-]+)&token=([\w-]+)", text)
    assert found, text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert found.group(2) in html
    return found.group(1), found.group(2)


@pytest.fixture(params=["embedded", "production"])
def stack(request, tmp_path: Path) -> Iterator[tuple[Server, SmtpSink]]:
    """The embedded default (SQLite, jobs in the server), or Postgres + Redis + a separate SAQ worker."""
    sink = SmtpSink().start()
    env = process_env(
        VIDEOFLIX_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="true",
        CSRF_TRUSTED_ORIGINS=TEST_ORIGIN,
        FRONTEND_URL=TEST_ORIGIN,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="false",
        DEFAULT_FROM_EMAIL="Videoflix <noreply@videoflix.test>",
        EMAIL_RATE_LIMIT="1000",  # the per-minute limits (S15) are tested elsewhere; here every request counts
    )
    worker = None
    if request.param == "production":
        from videoflix.adapters.db.migrate import upgrade  # noqa: F401 - the pg_database fixture migrates

        env.update(DATABASE_URL=request.getfixturevalue("pg_database"), REDIS_URL=request.getfixturevalue("redis_url"))
        worker = Worker(env, tmp_path / "worker.log")
    server = Server(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield server, sink
    finally:
        assert server.stop() in (0, -15), server.log()
        if worker:
            worker.stop()
        sink.stop()


def test_register_activate_login_refresh_logout_reset_over_http(stack):
    server, sink = stack
    with httpx.Client(base_url=server.url, headers={"Origin": TEST_ORIGIN}, timeout=10) as client:
        email = "e2e@example.com"
        registered = client.post(
            "/api/register/",
            json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD, "privacy_policy": "on"},
        )
        assert registered.status_code == 201, registered.text
        [activation] = sink.wait_for(1, timeout=30)
        assert activation["To"] == email
        uid, token = link_in(activation, "activate.html")
        receipt = registered.json()["token"]
        assert receipt != token
        assert client.get(f"/api/activate/{uid}/{receipt}/").status_code == 400  # S26: only the email activates
        assert client.get(f"/api/activate/{uid}/{token}/").json() == {"message": "Account successfully activated."}

        login = client.post("/api/login/", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200 and login.json()["user"]["username"] == email
        assert {"access_token", "refresh_token", "csrftoken"} <= set(client.cookies.keys())
        assert client.get("/api/video/").status_code == 200

        refreshed = client.post("/api/token/refresh/", json={})
        assert refreshed.status_code == 200 and refreshed.json()["access"] == client.cookies["access_token"]
        refresh_token = client.cookies["refresh_token"]

        logout = client.post("/api/logout/", json={}, headers={"X-CSRFToken": client.cookies["csrftoken"]})
        assert logout.status_code == 200
        assert client.get("/api/video/").status_code == 401  # cookies gone
        refused = client.post("/api/token/refresh/", cookies={"refresh_token": refresh_token})
        assert refused.status_code == 401

        assert client.post("/api/password_reset/", json={"email": email}).status_code == 200
        messages = sink.wait_for(2, timeout=int(__import__("os").environ.get("E2E_MAIL_WAIT", "30")))
        uid, token = link_in(messages[1], "confirm_password.html")
        confirmed = client.post(
            f"/api/password_confirm/{uid}/{token}/",
            json={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert confirmed.status_code == 200
        assert client.post("/api/login/", json={"email": email, "password": PASSWORD}).status_code == 401
        assert client.post("/api/login/", json={"email": email, "password": NEW_PASSWORD}).status_code == 200
    assert len(sink.messages) == 2  # one activation, one reset: nothing sent twice


def test_s28_addresses_that_name_other_recipients_and_reset_floods_send_nothing(stack):
    """The attacks of the review, through the real server and SMTP: no address list, group or angle bracket reaches
    a To: header, and five reset requests in a row send one email."""
    server, sink = stack
    with httpx.Client(base_url=server.url, headers={"Origin": TEST_ORIGIN}, timeout=10) as client:
        for address in ("x,victim@example.com", "grp:victim@example.com", "a<b>@example.com"):
            body = {"email": address, "password": PASSWORD, "confirmed_password": PASSWORD}
            assert client.post("/api/register/", json=body).status_code == 400
            assert client.post("/api/password_reset/", json={"email": address}).status_code == 400
            assert client.post("/api/login/", json={"email": address, "password": PASSWORD}).status_code == 401

        email = "flood@example.com"
        body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
        assert client.post("/api/register/", json=body).status_code == 201
        [activation] = sink.wait_for(1, timeout=30)
        uid, token = link_in(activation, "activate.html")
        assert client.get(f"/api/activate/{uid}/{token}/").status_code == 200
        answers = {client.post("/api/password_reset/", json={"email": email}).status_code for _ in range(5)}
        assert answers == {200}
        sink.wait_for(2, timeout=30)
        time.sleep(1)  # a second reset email, if one were sent, would have arrived by now
    assert [message["To"] for message in sink.messages] == [email, email]
