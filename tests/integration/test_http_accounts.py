"""The account endpoints through the real app (SQLite, file outbox): contract shapes, cookies, CSRF, CORS, limits."""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes
from email.message import Message

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import API_BASE, TEST_ORIGIN, make_settings, outbox_files
from videoflix.adapters.db.migrate import upgrade
from videoflix.bootstrap import Container, bootstrap
from videoflix.entrypoints.http.app import create_app

PASSWORD = "correct-horse-battery"
GENERIC = {"detail": "Please check your input and try again."}


def _text_of(message: Message) -> str:
    parts = [message] if not message.is_multipart() else list(message.walk())
    return "".join(
        p.get_payload(decode=True).decode() for p in parts if p.get_content_type() in ("text/plain", "text/html")
    )


async def latest_link(container: Container, page: str) -> tuple[str, str]:
    """(uid, token) of the newest emailed link to ``page``, read from the file outbox."""
    for _ in range(100):
        for path in reversed(outbox_files(container.settings)):
            text = _text_of(message_from_bytes(path.read_bytes()))
            found = re.search(
                rf"{re.escape(TEST_ORIGIN)}/pages/auth/{page}\?uid=([\w-]+)&(?:amp;)?token=([\w-]+)", text
            )
            if found:
                return found.group(1), found.group(2)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email with a link to {page}")


async def register_and_activate(client: AsyncTestClient, container: Container, email: str) -> None:
    response = await client.post(
        "/api/register/", json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    uid, token = await latest_link(container, "activate.html")
    assert (await client.get(f"/api/activate/{uid}/{token}/")).status_code == 200


async def login(client: AsyncTestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.post("/api/login/", json={"email": email, "password": password})


async def test_s26_register_answers_contract_shape_but_only_the_emailed_link_activates(client, container):
    response = await client.post(
        "/api/register/",
        json={"email": "New@Example.com", "password": PASSWORD, "confirmed_password": PASSWORD, "privacy_policy": "on"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "token"}
    assert body["user"]["email"] == "new@example.com" and isinstance(body["user"]["id"], int)
    assert isinstance(body["token"], str) and len(body["token"]) >= 22
    uid, token = await latest_link(container, "activate.html")
    assert token != body["token"]
    # Whoever registered someone else's address holds the answer, not the email: the answer activates nothing.
    refused = await client.get(f"/api/activate/{uid}/{body['token']}/")
    assert refused.status_code == 400
    activated = await client.get(f"/api/activate/{uid}/{token}/")
    assert activated.status_code == 200
    assert activated.json() == {"message": "Account successfully activated."}
    again = await client.get(f"/api/activate/{uid}/{token}/")
    assert again.status_code == 400
    assert again.json() == {"detail": "Activation failed.", "request_id": again.headers["x-request-id"]}


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "password": PASSWORD, "confirmed_password": PASSWORD},
        {"email": "a@example.com", "password": PASSWORD, "confirmed_password": PASSWORD + "x"},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": 5, "password": PASSWORD, "confirmed_password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD, "confirmed_password": PASSWORD},
    ],
)
async def test_register_rejects_bad_input_with_generic_400(client, payload):
    response = await client.post("/api/register/", json=payload)
    assert response.status_code == 400
    assert response.json()["detail"] == GENERIC["detail"]


async def test_s6_existing_email_gets_same_400_and_no_email(client, container):
    await register_and_activate(client, container, "taken@example.com")
    before = len(outbox_files(container.settings))
    response = await client.post(
        "/api/register/", json={"email": "taken@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    assert response.status_code == 400 and response.json()["detail"] == GENERIC["detail"]
    await asyncio.sleep(0.5)  # the in-process delivery job would have written the file by now
    assert len(outbox_files(container.settings)) == before


async def test_login_sets_cookies_per_contract_and_s9(client, container):
    await register_and_activate(client, container, "viewer@example.com")
    response = await login(client, "viewer@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["detail"] == "Login successful"
    assert body["user"]["username"] == "viewer@example.com" and isinstance(body["user"]["id"], int)
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"access_token", "refresh_token", "csrftoken"}
    for name in ("access_token", "refresh_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=lax" in cookies[name] and "Path=/" in cookies[name]
    assert "HttpOnly" not in cookies["csrftoken"]
    access_age = int(re.search(r"Max-Age=(\d+)", cookies["access_token"]).group(1))
    assert 20 * 60 < access_age <= 30 * 60  # above the frontend's 20-minute refresh, never beyond exp


async def test_secure_cookies_unless_debug(tmp_path):
    settings = make_settings(tmp_path, DEBUG="false")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            await register_and_activate(client, container, "secure@example.com")
            response = await login(client, "secure@example.com")
            assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    finally:
        await container.close()


async def test_s4_login_failures_are_indistinguishable(client, container):
    await register_and_activate(client, container, "known@example.com")
    await client.post(
        "/api/register/", json={"email": "inactive@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    answers = [
        await login(client, "unknown@example.com"),
        await login(client, "known@example.com", "wrong-password-here"),
        await login(client, "inactive@example.com"),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.json()["detail"] for r in answers}) == 1


async def test_refresh_logout_and_s10_s11(client, container):
    await register_and_activate(client, container, "flow@example.com")
    await login(client, "flow@example.com")
    first_refresh = client.cookies.get("refresh_token")
    refreshed = await client.post("/api/token/refresh/", json={})
    assert refreshed.status_code == 200
    assert refreshed.json()["detail"] == "Token refreshed" and refreshed.json()["access"]
    assert client.cookies.get("access_token") == refreshed.json()["access"]
    assert client.cookies.get("refresh_token") != first_refresh  # rotated
    # S11: replaying the rotated token is refused and revokes the family (the current token dies too)
    replay = await client.post("/api/token/refresh/", cookies={"refresh_token": first_refresh})
    assert replay.status_code == 401
    current = client.cookies.get("refresh_token")
    assert (await client.post("/api/token/refresh/", cookies={"refresh_token": current})).status_code == 401


async def test_s10_logout_revokes_refresh_and_clears_cookies(client, container):
    await register_and_activate(client, container, "bye@example.com")
    await login(client, "bye@example.com")
    refresh = client.cookies.get("refresh_token")
    csrf = client.cookies.get("csrftoken")
    response = await client.post("/api/logout/", headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    assert response.json() == {"detail": "Logout successful! All tokens will be deleted. Refresh token is now invalid."}
    cleared = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie") if "Max-Age=0" in c}
    assert cleared == {"access_token", "refresh_token", "csrftoken"}
    again = await client.post("/api/token/refresh/", cookies={"refresh_token": refresh})
    assert again.status_code == 401


async def test_logout_and_refresh_without_cookie_are_400(client):
    assert (await client.post("/api/logout/")).status_code == 400
    assert (await client.post("/api/token/refresh/")).status_code == 400


async def test_garbage_and_expired_cookies_never_break_public_endpoints(client, container):
    client.cookies.set("access_token", "garbage.token.value")
    client.cookies.set("refresh_token", "%%%")
    response = await client.post(
        "/api/register/", json={"email": "g@example.com", "password": PASSWORD, "confirmed_password": PASSWORD}
    )
    assert response.status_code == 201
    assert (await client.post("/api/password_reset/", json={"email": "g@example.com"})).status_code == 200
    assert (await client.post("/api/token/refresh/")).status_code == 401
    assert (await client.get("/api/video/")).status_code == 401


async def test_password_reset_flow_and_s12(client, container):
    await register_and_activate(client, container, "forgot@example.com")
    await login(client, "forgot@example.com")
    old_refresh = client.cookies.get("refresh_token")
    same = await client.post("/api/password_reset/", json={"email": "nobody@example.com"})
    response = await client.post("/api/password_reset/", json={"email": "forgot@example.com"})
    assert response.status_code == same.status_code == 200
    assert response.json() == same.json() == {"detail": "An email has been sent to reset your password."}
    uid, token = await latest_link(container, "confirm_password.html")
    new_password = "a-brand-new-passphrase"
    mismatch = await client.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": new_password, "confirm_password": "other-one-x"}
    )
    assert mismatch.status_code == 400
    confirm = await client.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": new_password, "confirm_password": new_password}
    )
    assert confirm.status_code == 200
    assert confirm.json() == {"detail": "Your Password has been successfully reset."}
    reused = await client.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": new_password, "confirm_password": new_password}
    )
    assert reused.status_code == 400
    assert (await client.post("/api/token/refresh/", cookies={"refresh_token": old_refresh})).status_code == 401
    assert (await login(client, "forgot@example.com")).status_code == 401
    assert (await login(client, "forgot@example.com", new_password)).status_code == 200


async def test_password_reset_rejects_malformed_email(client):
    response = await client.post("/api/password_reset/", json={"email": "nope"})
    assert response.status_code == 400


async def test_s13_csrf_rules(client, container):
    await register_and_activate(client, container, "csrf@example.com")
    await login(client, "csrf@example.com")
    csrf = client.cookies.get("csrftoken")
    evil = await client.post("/api/logout/", headers={"Origin": "http://evil.test", "X-CSRFToken": csrf})
    assert evil.status_code == 403 and "detail" in evil.json()
    form = await client.post(
        "/api/logout/", content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 403
    wrong_token = await client.post("/api/logout/", headers={"X-CSRFToken": "not-the-cookie"})
    assert wrong_token.status_code == 403
    referer_only = await client.post("/api/token/refresh/", headers={"Origin": "", "Referer": "http://evil.test/page"})
    assert referer_only.status_code == 403
    # The frontend's refresh: trusted origin, JSON, no X-CSRFToken header.
    assert (await client.post("/api/token/refresh/", json={})).status_code == 200
    assert (await client.post("/api/logout/", headers={"X-CSRFToken": csrf})).status_code == 200


async def test_s14_cors_only_for_configured_origins(client):
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-csrftoken"}
    ok = await client.options("/api/login/", headers={**headers, "Origin": TEST_ORIGIN})
    assert ok.status_code in (200, 204)
    assert ok.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert ok.headers["access-control-allow-credentials"] == "true"
    allowed = ok.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed and "x-csrftoken" in allowed
    for origin in ("http://127.0.0.1.evil.test", "http://evil.test", "null"):
        bad = await client.options("/api/login/", headers={**headers, "Origin": origin})
        assert bad.headers.get("access-control-allow-origin") in (None, "")
    simple = await client.get("/api/video/", headers={"Origin": TEST_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == TEST_ORIGIN


async def test_s15_login_rate_limit_and_spoofed_forwarded_for(tmp_path):
    settings = make_settings(tmp_path, LOGIN_RATE_LIMIT="3", EMAIL_RATE_LIMIT="2")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            client.headers["Origin"] = TEST_ORIGIN
            statuses = []
            for attempt in range(5):
                response = await client.post(
                    "/api/login/",
                    json={"email": f"user{attempt}@example.com", "password": "whatever-123"},
                    headers={"X-Forwarded-For": f"10.0.0.{attempt}"},
                )
                statuses.append(response.status_code)
            assert statuses[:3] == [401, 401, 401]
            assert statuses[3:] == [429, 429]
            assert response.json()["detail"] and response.headers["retry-after"]
            resets = [
                (await client.post("/api/password_reset/", json={"email": "x@example.com"})).status_code
                for _ in range(3)
            ]
            assert resets == [200, 200, 429]
    finally:
        await container.close()


async def test_s16_large_json_body_gets_413_json(client):
    response = await client.post(
        "/api/login/", content=b'{"email": "' + b"a" * 200_000 + b'"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/login/", b"{not json"),
        ("POST", "/api/login/", b"[]"),
        ("POST", "/api/login/", b"null"),
        ("POST", "/api/register/", b'{"email": null}'),
        ("POST", "/api/password_confirm/MQ/abc/", b'{"new_password": 1}'),
        (
            "POST",
            "/api/password_confirm/!!!/abc/",
            b'{"new_password": "x-long-password", "confirm_password": "x-long-password"}',
        ),
        ("GET", "/api/activate/%00/..%2f/", b""),
        ("GET", "/api/activate/" + "A" * 5000 + "/x/", b""),
        ("DELETE", "/api/register/", b""),
        ("GET", "/api/does-not-exist/", b""),
    ],
)
async def test_s18_bad_requests_get_json_4xx_never_5xx(client, method, path, body):
    response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json() or "message" in response.json()
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()


async def test_s17_email_links_ignore_host_headers(client, container):
    response = await client.post(
        "/api/register/",
        json={"email": "host@example.com", "password": PASSWORD, "confirmed_password": PASSWORD},
        headers={"Host": "evil.test", "X-Forwarded-Host": "evil.test"},
    )
    assert response.status_code == 201
    await latest_link(container, "activate.html")  # the link found starts with FRONTEND_URL
    texts = [p.read_text() for p in outbox_files(container.settings)]
    assert not any("evil.test" in t for t in texts)


async def test_allowed_hosts_ignores_ports_like_django(tmp_path):
    settings = make_settings(tmp_path, ALLOWED_HOSTS="127.0.0.1,.videoflix.example")
    await asyncio.to_thread(upgrade, settings.database_url)
    container = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        async with AsyncTestClient(create_app(container=container), base_url=API_BASE) as client:
            assert (await client.get("/api/health")).status_code == 200  # Host: 127.0.0.1:8000
            assert (await client.get("/api/health", headers={"Host": "cdn.videoflix.example"})).status_code == 200
            refused = await client.get("/api/health", headers={"Host": "evil.test:8000"})
            assert refused.status_code == 400 and refused.json()["detail"]
    finally:
        await container.close()
