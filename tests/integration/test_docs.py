"""The OpenAPI schema and the docs page at /api/docs, which must work without internet access."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

# Every endpoint of the contract in docs/api.md, as the frontend calls it.
CONTRACT = [
    ("post", "/api/register/"),
    ("get", "/api/activate/MQ/some-token/"),
    ("post", "/api/login/"),
    ("post", "/api/logout/"),
    ("post", "/api/token/refresh/"),
    ("post", "/api/password_reset/"),
    ("post", "/api/password_confirm/MQ/some-token/"),
    ("get", "/api/video/"),
    ("get", "/api/video/1/480p/index.m3u8"),
    ("get", "/api/video/1/480p/000.ts"),
    ("get", "/api/video/1/480p/000.ts/"),
]
PROTECTED = ("/api/video", "/api/admin")
# Unsafe operations that take no body: the cookie is their input.
BODILESS = {
    "/api/logout",
    "/api/token/refresh",
    "/api/admin/videos/{video_id}/transcode",
    "/api/admin/users/{user_id}/deactivate",
    "/api/admin/users/{user_id}/activate",
    "/api/admin/users/{user_id}/sign-out",
    "/api/admin/users/{user_id}/resend-activation",
    "/api/admin/emails/{email_id}/retry",
}


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.fixture
async def schema(client: AsyncTestClient) -> dict[str, Any]:
    response = await client.get("/api/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
    return re.fullmatch(pattern + "/?", path) is not None


async def test_docs_page_uses_only_local_assets(client: AsyncTestClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = Assets()
    parser.feed(page.text)
    assert parser.urls, "the page loads its UI from somewhere"
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", page.text, re.IGNORECASE), "no CDN or other host"
    for url in parser.urls:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
    kinds = {(await client.get(url)).headers["content-type"].split(";")[0] for url in parser.urls}
    assert {"text/css", "text/javascript"} <= kinds or {"text/css", "application/javascript"} <= kinds
    assert "/api/schema/openapi.json" in page.text


async def test_docs_assets_are_not_a_file_browser(client: AsyncTestClient) -> None:
    for name in ("index.html", "..%2F__init__.py", "swagger-ui-bundle.js.map", "nope.js"):
        response = await client.get(f"/api/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"].startswith("application/json")


async def test_the_schema_lists_every_contract_endpoint(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    for method, path in CONTRACT:
        found = [template for template, item in schema["paths"].items() if method in item and _matches(template, path)]
        assert found, f"{method.upper()} {path} is not in the schema"


async def test_every_operation_documents_its_bodies_errors_and_cookies(schema: dict[str, Any]) -> None:
    components = schema["components"]
    error = components["schemas"]["Error"]
    assert error["properties"]["detail"]["type"] == "string"
    assert error["required"] == ["detail"]
    schemes = components["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "cookie", "access_token"),
        ("apiKey", "cookie", "refresh_token"),
        ("apiKey", "header", "X-CSRFToken"),
    }
    access_scheme = next(key for key, s in schemes.items() if s["name"] == "access_token")
    csrf_scheme = next(key for key, s in schemes.items() if s["name"] == "X-CSRFToken")
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {template}"
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), where
            if template.startswith(PROTECTED):
                # Unsafe requests need the csrftoken cookie's value as a header too: both, in one requirement.
                needed = {access_scheme: []} if method in ("get", "head") else {access_scheme: [], csrf_scheme: []}
                assert operation["security"] == [needed], where
                assert "401" in codes, where
            if method in ("post", "patch", "delete"):
                assert {"400", "403", "413"} <= codes, where
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    schema_ref = str(response["content"]["application/json"]["schema"])
                    assert "#/components/schemas/Error" in schema_ref, f"{where} {code}"
            if method in ("post", "patch") and template not in BODILESS:
                assert "requestBody" in operation, where


async def test_login_documents_its_cookies_and_rate_limit(schema: dict[str, Any]) -> None:
    login = schema["paths"]["/api/login"]["post"]
    set_cookie = str(login["responses"]["200"]["headers"]["Set-Cookie"])
    for cookie in ("access_token", "refresh_token", "csrftoken"):
        assert cookie in set_cookie
    assert {"401", "429"} <= set(login["responses"])
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/LoginRequest"}


async def test_upload_documents_its_multipart_body(schema: dict[str, Any]) -> None:
    upload = schema["paths"]["/api/admin/videos"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert set(form["required"]) == {"title", "category", "file"}


async def test_schema_under_unknown_paths_is_a_json_404(client: AsyncTestClient) -> None:
    response = await client.get("/api/schema/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
