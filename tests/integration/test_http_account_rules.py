"""S28 through the app: passwords refused with the rule they break, addresses that are not one mailbox refused like
any bad input, and reset emails that cannot flood an inbox."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import outbox_files
from tests.integration.test_http_accounts import GENERIC, PASSWORD, latest_link, login, register_and_activate
from videoflix.bootstrap import Container

TOO_COMMON = "This password is too common."
RESET_SENT = {"detail": "An email has been sent to reset your password."}


async def register(client: AsyncTestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/register/", json={"email": email, "password": password, "confirmed_password": password}
    )


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("aaaaaaaa", [TOO_COMMON]),
        ("password123", [TOO_COMMON]),
        ("73920461185", ["This password is entirely numeric."]),
        ("jane.doe.films", ["The password is too similar to the email address."]),
        ("short", ["This password is too short. It must contain at least 8 characters."]),
        (
            "12345",
            [
                "This password is too short. It must contain at least 8 characters.",
                TOO_COMMON,
                "This password is entirely numeric.",
            ],
        ),
    ],
)
async def test_s28_register_says_which_password_rule_failed(
    client: AsyncTestClient, container: Container, password: str, problems: list[str]
) -> None:
    response = await register(client, "jane.doe@films.example", password)

    assert response.status_code == 400
    assert response.json() == {"password": problems, "request_id": response.headers["x-request-id"]}
    async with container.uow() as uow:
        assert await uow.users.get_by_email("jane.doe@films.example") is None


async def test_s28_s6_a_taken_address_still_gets_the_generic_answer_and_a_weak_password_the_same_rule(
    client: AsyncTestClient, container: Container
) -> None:
    await register_and_activate(client, container, "taken@example.com")
    before = len(outbox_files(container.settings))

    taken_weak = await register(client, "taken@example.com", "aaaaaaaa")
    free_weak = await register(client, "free@example.com", "aaaaaaaa")
    taken_strong = await register(client, "taken@example.com", "another-Strong-passphrase-1")

    assert taken_weak.status_code == free_weak.status_code == 400
    assert {k: v for k, v in taken_weak.json().items() if k != "request_id"} == {"password": [TOO_COMMON]}
    assert {k: v for k, v in free_weak.json().items() if k != "request_id"} == {"password": [TOO_COMMON]}
    assert taken_strong.status_code == 400 and taken_strong.json()["detail"] == GENERIC["detail"]
    await asyncio.sleep(0.3)  # the in-process delivery would have written an email by now
    assert len(outbox_files(container.settings)) == before


async def test_s28_a_reset_says_which_rule_the_new_password_breaks(
    client: AsyncTestClient, container: Container
) -> None:
    await register_and_activate(client, container, "forgot@example.com")
    assert (await client.post("/api/password_reset/", json={"email": "forgot@example.com"})).status_code == 200
    uid, token = await latest_link(container, "confirm_password.html")

    weak = await client.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": "aaaaaaaa", "confirm_password": "aaaaaaaa"}
    )
    assert weak.status_code == 400
    assert weak.json() == {"new_password": [TOO_COMMON], "request_id": weak.headers["x-request-id"]}

    strong = "a-brand-new-passphrase"
    ok = await client.post(
        f"/api/password_confirm/{uid}/{token}/", json={"new_password": strong, "confirm_password": strong}
    )
    assert ok.status_code == 200  # the refused attempt did not spend the link


async def test_s28_a_bad_reset_link_tells_nothing_about_the_new_password(
    client: AsyncTestClient, container: Container
) -> None:
    """The similarity rule knows the account's email: without a valid link it must not answer at all."""
    await register_and_activate(client, container, "secret.person@example.com")
    uid, _ = await latest_link(container, "activate.html")
    response = await client.post(
        f"/api/password_confirm/{uid}/wrong-token/",
        json={"new_password": "secret.person", "confirm_password": "secret.person"},
    )
    assert response.status_code == 400 and response.json()["detail"] == GENERIC["detail"]


ATTACKS = ["x,victim@example.com", "grp:victim@example.com", "a<b>@example.com", "Jane <victim@example.com>"]


@pytest.mark.parametrize("address", ATTACKS)
async def test_s28_an_address_that_is_not_one_mailbox_is_refused_and_nothing_is_sent(
    client: AsyncTestClient, container: Container, address: str
) -> None:
    registered = await register(client, address, PASSWORD)
    assert registered.status_code == 400 and registered.json()["detail"] == GENERIC["detail"]

    unknown = await login(client, "nobody@example.com")
    refused = await login(client, address)
    assert refused.status_code == unknown.status_code == 401
    assert refused.json()["detail"] == unknown.json()["detail"]

    reset = await client.post("/api/password_reset/", json={"email": address})
    assert reset.status_code == 400 and reset.json()["detail"] == GENERIC["detail"]
    await asyncio.sleep(0.3)
    assert outbox_files(container.settings) == []


async def test_s28_the_domain_is_stored_lower_case_and_idna_encoded(client: AsyncTestClient) -> None:
    response = await register(client, "Jane@BÜCHER.example", PASSWORD)
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "jane@xn--bcher-kva.example"


async def test_s28_reset_requests_answer_alike_but_send_one_email_while_its_link_is_unused(
    client: AsyncTestClient, container: Container
) -> None:
    await register_and_activate(client, container, "flooded@example.com")
    before = len(outbox_files(container.settings))

    answers = [await client.post("/api/password_reset/", json={"email": "flooded@example.com"}) for _ in range(5)]
    unknown = await client.post("/api/password_reset/", json={"email": "nobody@example.com"})

    assert {a.status_code for a in [*answers, unknown]} == {200}
    assert all({k: v for k, v in a.json().items() if k != "request_id"} == RESET_SENT for a in [*answers, unknown])
    await latest_link(container, "confirm_password.html")  # the one email arrived
    await asyncio.sleep(0.3)  # and no other follows
    assert len(outbox_files(container.settings)) == before + 1
