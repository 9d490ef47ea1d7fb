"""Sessions end for good (S27), the register answer activates nothing (S26), reset emails cannot flood an inbox
(S28), and what staff and operators do to accounts: against the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.test_accounts_service import (
    ACTIVATION_FAILED,
    EMAIL,
    NEW_PASSWORD,
    PASSWORD,
    World,
    active_user,
    assert_login_fails,
    assert_refresh_refused,
    make_world,
    registered,
)
from videoflix.domain.accounts.model import ResetRequestOutcome, SessionRevocation, TokenPurpose
from videoflix.domain.accounts.service import AccountPolicy, Session
from videoflix.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound

FRONTEND_URL = "http://127.0.0.1:5500"
ACCESS_TTL = timedelta(minutes=30)


@pytest.fixture
def world() -> World:
    return make_world()


def revocations(world: World) -> list[SessionRevocation]:
    return list(world.uow.state.session_revocations.values())


def assert_ended(world: World, *sessions: Session) -> None:
    """Each session's access token now names a revoked session, recorded for the other processes and known here."""
    recorded = {row.family_id for row in revocations(world)}
    for session in sessions:
        family = world.tokens.decode_access(session.access.token).family_id
        assert family == session.family_id
        assert family in recorded
        assert world.revoked.is_revoked(family)


def assert_alive(world: World, *sessions: Session) -> None:
    for session in sessions:
        assert not world.revoked.is_revoked(world.tokens.decode_access(session.access.token).family_id)


# ------------------------------------------------------------------------------------------ S26


async def test_s26_the_register_answer_is_a_receipt_that_activates_nothing(world: World) -> None:
    registration = await world.service.register(EMAIL, PASSWORD, PASSWORD)
    link = world.last_link()

    assert registration.receipt != link["token"] and len(registration.receipt) >= 22
    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(link["uid"], registration.receipt)
    assert registration.receipt not in world.outbox[0].message.text

    await world.service.activate(link["uid"], link["token"])
    assert world.uow.state.users[registration.user.id or 0].is_active


# ------------------------------------------------------------------------------------------ S27: every access token


async def test_s27_every_access_token_carries_its_session_from_login_and_refresh(world: World) -> None:
    await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)
    renewed = await world.service.refresh(session.refresh.token)

    assert world.tokens.decode_access(session.access.token).family_id == session.family_id
    assert world.tokens.decode_access(renewed.access.token).family_id == session.family_id == renewed.family_id
    assert world.tokens.decode_refresh(renewed.refresh.token).family_id == session.family_id


async def test_s27_logout_ends_the_session_its_access_tokens_included_and_only_that_one(world: World) -> None:
    await active_user(world)
    laptop = await world.service.login(EMAIL, PASSWORD)
    phone = await world.service.login(EMAIL, PASSWORD)
    renewed = await world.service.refresh(laptop.refresh.token)

    await world.service.logout(renewed.refresh.token)

    assert_ended(world, laptop, renewed)
    assert_alive(world, phone)
    (row,) = revocations(world)
    assert (row.family_id, row.expires_at) == (laptop.family_id, world.clock.now() + ACCESS_TTL)
    assert world.revoked.revoked == {laptop.family_id: world.clock.now() + ACCESS_TTL}


async def test_s27_logging_out_of_an_ended_session_records_nothing_more(world: World) -> None:
    await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)
    await world.service.logout(session.refresh.token)

    await world.service.logout(session.refresh.token)
    await world.service.logout(session.refresh.token, session.access.token)

    assert len(revocations(world)) == 1


async def test_s27_logout_with_an_unreadable_refresh_token_ends_the_access_tokens_session(world: World) -> None:
    await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)

    await world.service.logout("garbage", session.access.token)

    assert_ended(world, session)
    await assert_refresh_refused(world, session.refresh.token)


async def test_s27_replaying_a_rotated_refresh_token_ends_the_sessions_access_tokens_too(world: World) -> None:
    await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)
    renewed = await world.service.refresh(session.refresh.token)

    await assert_refresh_refused(world, session.refresh.token)

    assert_ended(world, session, renewed)


async def test_s27_a_password_reset_ends_every_session_of_the_account(world: World) -> None:
    await active_user(world)
    laptop = await world.service.login(EMAIL, PASSWORD)
    phone = await world.service.login(EMAIL, PASSWORD)
    other_id = await active_user(world, "john@example.com")
    johns = await world.service.login("john@example.com", PASSWORD)
    await world.service.request_password_reset(EMAIL)
    link = world.last_link()

    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    assert_ended(world, laptop, phone)
    assert_alive(world, johns)
    assert len(revocations(world)) == 2 and other_id


async def test_s27_a_session_that_ended_long_ago_is_not_recorded_again(world: World) -> None:
    """Only live sessions are recorded: a refresh token past its expiry has no access token left to refuse."""
    await active_user(world)
    await world.service.login(EMAIL, PASSWORD)
    world.clock.advance(days=8)
    current = await world.service.login(EMAIL, PASSWORD)

    assert await world.service.end_sessions(current.user_id) == 1
    assert [row.family_id for row in revocations(world)] == [current.family_id]


async def test_s27_deactivation_ends_every_session_and_every_login(world: World) -> None:
    user_id = await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)

    user = await world.service.deactivate_user(user_id, actor_id=999)

    assert not user.is_active and not world.uow.state.users[user_id].is_active
    assert_ended(world, session)
    await assert_refresh_refused(world, session.refresh.token)
    await assert_login_fails(world, EMAIL, PASSWORD)

    reactivated = await world.service.activate_user(user_id)
    assert reactivated.is_active
    assert (await world.service.login(EMAIL, PASSWORD)).user_id == user_id
    await assert_refresh_refused(world, session.refresh.token)  # the old session stays ended


async def test_s27_deletion_records_the_sessions_before_the_tokens_go_with_the_user(world: World) -> None:
    user_id = await active_user(world)
    session = await world.service.login(EMAIL, PASSWORD)

    await world.service.delete_user(user_id)

    state = world.uow.state
    assert user_id not in state.users
    assert not any(r.user_id == user_id for r in state.refresh_tokens.values())
    assert not any(t.user_id == user_id for t in state.one_time_tokens.values())
    assert_ended(world, session)
    await assert_refresh_refused(world, session.refresh.token)
    await assert_login_fails(world, EMAIL, PASSWORD)
    await registered(world)  # the address is free again


async def test_s27_sign_out_everywhere_ends_every_session_and_counts_them(world: World) -> None:
    user_id = await active_user(world)
    sessions = [await world.service.login(EMAIL, PASSWORD) for _ in range(3)]
    await world.service.logout(sessions[0].refresh.token)

    assert await world.service.end_sessions(user_id) == 2
    assert_ended(world, *sessions)
    assert await world.service.end_sessions(user_id) == 0
    assert (await world.service.login(EMAIL, PASSWORD)).user_id == user_id  # the account itself still works


async def test_s27_the_sweep_forgets_revocations_once_their_access_tokens_expired(world: World) -> None:
    await active_user(world)
    await world.service.logout((await world.service.login(EMAIL, PASSWORD)).refresh.token)

    world.clock.advance(ACCESS_TTL - timedelta(seconds=1))
    assert await world.service.forget_expired_revocations() == 0
    world.clock.advance(seconds=1)
    assert await world.service.forget_expired_revocations() == 1
    assert revocations(world) == []


# ------------------------------------------------------------------------------------------ staff and operators


@pytest.mark.parametrize("action", ["deactivate", "delete", "demote"])
async def test_staff_cannot_deactivate_delete_or_demote_themselves(world: World, action: str) -> None:
    staff = await world.service.create_admin(EMAIL, PASSWORD)
    assert staff.id is not None
    calls = {
        "deactivate": lambda: world.service.deactivate_user(staff.id or 0, actor_id=staff.id),
        "delete": lambda: world.service.delete_user(staff.id or 0, actor_id=staff.id),
        "demote": lambda: world.service.set_staff(staff.id or 0, False, actor_id=staff.id),
    }
    with pytest.raises(Conflict):
        await calls[action]()
    stored = world.uow.state.users[staff.id]
    assert stored.is_active and stored.is_staff
    assert world.uow.state.session_revocations == {}


async def test_staff_rights_are_granted_and_taken_by_another_account(world: World) -> None:
    boss = await world.service.create_admin("boss@example.com", PASSWORD)
    user_id = await active_user(world)

    promoted = await world.service.set_staff(user_id, True, actor_id=boss.id)
    assert promoted.is_staff and world.uow.state.users[user_id].is_staff
    demoted = await world.service.set_staff(user_id, False, actor_id=boss.id)
    assert not demoted.is_staff and not world.uow.state.users[user_id].is_staff
    assert (await world.service.set_staff(boss.id or 0, True, actor_id=boss.id)).is_staff  # keeping is fine


@pytest.mark.parametrize("action", ["deactivate", "activate", "delete", "staff", "sign-out"])
async def test_unknown_accounts_are_not_found(world: World, action: str) -> None:
    calls = {
        "deactivate": lambda: world.service.deactivate_user(404),
        "activate": lambda: world.service.activate_user(404),
        "delete": lambda: world.service.delete_user(404),
        "staff": lambda: world.service.set_staff(404, True),
        "sign-out": lambda: world.service.end_sessions(404),
    }
    with pytest.raises(NotFound):
        await calls[action]()


async def test_activating_by_staff_needs_no_emailed_link(world: World) -> None:
    user_id = await registered(world)
    await world.service.activate_user(user_id)
    assert (await world.service.login(EMAIL, PASSWORD)).user_id == user_id


async def test_users_are_found_by_a_part_of_their_email_a_page_at_a_time(world: World) -> None:
    for name in ("anna", "bert", "carla", "annabel"):
        await registered(world, f"{name}@example.com")
    await registered(world, "anna@films.example.org")

    page = await world.service.list_users("ANNA ", page=1, page_size=2)
    assert [u.email for u in page.users] == ["anna@example.com", "annabel@example.com"]
    assert (page.total, page.page, page.page_size) == (3, 1, 2)
    second = await world.service.list_users("anna", page=2, page_size=2)
    assert [u.email for u in second.users] == ["anna@films.example.org"]
    everyone = await world.service.list_users(None, page=1, page_size=500)
    assert everyone.total == 5 and everyone.page_size == 100  # capped
    assert (await world.service.list_users("nobody")).users == []


async def test_a_login_is_recorded_on_the_account(world: World) -> None:
    user_id = await active_user(world)
    assert world.uow.state.users[user_id].last_login is None
    world.clock.advance(minutes=3)
    await world.service.login(EMAIL, PASSWORD)
    assert world.uow.state.users[user_id].last_login == world.clock.now()


async def test_find_user_normalizes_the_address_like_login(world: World) -> None:
    user_id = await registered(world)
    found = await world.service.find_user("  JANE@Example.com ")
    assert found is not None and found.id == user_id
    assert await world.service.find_user("x,jane@example.com") is None


# ------------------------------------------------------------------------------------------ S28: reset emails


def reset_emails(world: World) -> int:
    return len([row for row in world.emails_to(EMAIL) if "confirm_password.html" in row.message.text])


async def test_s28_no_second_reset_email_while_a_link_is_unused_and_unexpired(world: World) -> None:
    await active_user(world)

    assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.QUEUED
    for _ in range(5):
        assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.LINK_PENDING
    assert reset_emails(world) == 1

    world.clock.advance(hours=1)  # the link expired: a new one may go out
    assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.QUEUED
    assert reset_emails(world) == 2


async def test_s28_reset_emails_are_capped_per_account_per_hour() -> None:
    world = make_world(policy=AccountPolicy(frontend_url=FRONTEND_URL, reset_emails_per_hour=3))
    await active_user(world)

    for round_ in range(3):  # each link used at once, so none is pending
        assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.QUEUED
        link = world.last_link()
        new_password = f"{NEW_PASSWORD}-{round_}"
        await world.service.confirm_password_reset(link["uid"], link["token"], new_password, new_password)
        world.clock.advance(minutes=5)
    assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.HOURLY_CAP
    assert reset_emails(world) == 3

    world.clock.advance(minutes=46)  # the first of the three is more than an hour old
    assert await world.service.request_password_reset(EMAIL) is ResetRequestOutcome.QUEUED
    assert reset_emails(world) == 4


async def test_s28_the_hourly_cap_is_per_account(world: World) -> None:
    await active_user(world)
    await active_user(world, "john@example.com")
    await world.service.request_password_reset(EMAIL)
    assert await world.service.request_password_reset("john@example.com") is ResetRequestOutcome.QUEUED


async def test_s28_a_reset_request_for_an_unknown_address_says_so_only_to_the_caller_of_the_service(
    world: World,
) -> None:
    assert await world.service.request_password_reset("nobody@example.com") is ResetRequestOutcome.NO_ACCOUNT
    with pytest.raises(InvalidInput):
        await world.service.request_password_reset("x,victim@example.com")


# ------------------------------------------------------------------------------------------ S28: addresses


@pytest.mark.parametrize("address", ["x,victim@example.com", "grp:victim@example.com", "a<b>@example.com"])
async def test_s28_an_address_that_is_not_one_mailbox_is_refused_everywhere(world: World, address: str) -> None:
    with pytest.raises(InvalidInput):
        await world.service.register(address, PASSWORD, PASSWORD)
    with pytest.raises(InvalidInput):
        await world.service.request_password_reset(address)
    with pytest.raises(AuthenticationFailed):
        await world.service.login(address, PASSWORD)
    assert world.outbox == [] and world.uow.state.users == {}
    assert world.hasher.dummy_verifications == 1  # the refused login still paid for a verification (S4)


async def test_s28_addresses_are_stored_as_the_validator_normalized_them_in_lower_case(world: World) -> None:
    registration = await world.service.register("  Jane@EXAMPLE.com ", PASSWORD, PASSWORD)
    assert registration.user.email == EMAIL
    assert world.mailboxes.asked == ["Jane@EXAMPLE.com"]  # trimmed before it is judged


async def test_s28_reset_tokens_remember_when_they_were_issued(world: World) -> None:
    user_id = await active_user(world)
    await world.service.request_password_reset(EMAIL)
    (token,) = [t for t in world.uow.state.one_time_tokens.values() if t.purpose is TokenPurpose.PASSWORD_RESET]
    assert token.user_id == user_id and token.created_at == world.clock.now()
