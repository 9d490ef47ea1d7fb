"""Account use cases against in-memory fakes: register, activate, log in, refresh, log out, reset a password."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import (
    FakeClock,
    FakeEmailRenderer,
    FakeJobQueue,
    FakeMailboxValidator,
    FakeMailer,
    FakePasswordHasher,
    FakeRevokedSessions,
    FakeTokenCodec,
    FakeUnitOfWorkFactory,
    OutboxRow,
    Ring,
)
from videoflix.adapters.security.tokens import JwtTokenCodec
from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.model import (
    GENERIC_INPUT_ERROR,
    OneTimeToken,
    PasswordRefused,
    TokenPurpose,
    encode_uid,
    hash_token,
)
from videoflix.domain.accounts.passwords import ENTIRELY_NUMERIC, TOO_COMMON, TOO_SHORT, TOO_SIMILAR
from videoflix.domain.accounts.ports import TokenCodec
from videoflix.domain.accounts.service import (
    LOGIN_FAILED,
    AccountPolicy,
    AccountService,
    Session,
)
from videoflix.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from videoflix.domain.jobs import Job

FRONTEND_URL = "http://127.0.0.1:5500"
EMAIL = "jane@example.com"
PASSWORD = "correct-Horse-battery-9"
NEW_PASSWORD = "another-Staple-7-river"
ACTIVATION_FAILED = "Activation failed."
_LINK = re.compile(r"(?P<url>\S+/pages/auth/(?P<page>[a-z_]+\.html)\?uid=(?P<uid>[A-Za-z0-9_-]+)&token=(?P<token>\S+))")


@dataclass
class World:
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    hasher: FakePasswordHasher
    tokens: TokenCodec
    emails: FakeEmailRenderer
    queue: FakeJobQueue
    service: AccountService
    revoked: FakeRevokedSessions
    mailboxes: FakeMailboxValidator
    mailer: FakeMailer = field(default_factory=FakeMailer)

    @property
    def outbox(self) -> list[OutboxRow]:
        return list(self.uow.state.outbox.values())

    def emails_to(self, address: str) -> list[OutboxRow]:
        return [row for row in self.outbox if row.message.to == address]

    def last_link(self, address: str = EMAIL) -> re.Match[str]:
        rows = self.emails_to(address)
        assert rows, f"no email to {address}"
        match = _LINK.search(rows[-1].message.text)
        assert match, rows[-1].message.text
        return match

    def delivery(self) -> EmailDelivery:
        return EmailDelivery(self.uow, self.mailer, self.queue, self.clock)


def make_world(
    clock: FakeClock | None = None, tokens: TokenCodec | None = None, policy: AccountPolicy | None = None
) -> World:
    clock = clock or FakeClock()
    uow = FakeUnitOfWorkFactory()
    hasher = FakePasswordHasher()
    codec = tokens or FakeTokenCodec(clock)
    emails = FakeEmailRenderer()
    queue = FakeJobQueue()
    revoked = FakeRevokedSessions()
    mailboxes = FakeMailboxValidator()
    service = AccountService(
        uow,
        hasher,
        codec,
        emails,
        queue,
        clock,
        policy or AccountPolicy(frontend_url=FRONTEND_URL),
        mailboxes=mailboxes,
        revoked=revoked,
    )
    return World(clock, uow, hasher, codec, emails, queue, service, revoked, mailboxes)


@pytest.fixture
def world() -> World:
    return make_world()


async def registered(world: World, email: str = EMAIL, password: str = PASSWORD) -> int:
    registration = await world.service.register(email, password, password)
    assert registration.user.id is not None
    return registration.user.id


async def active_user(world: World, email: str = EMAIL, password: str = PASSWORD) -> int:
    user_id = await registered(world, email, password)
    link = world.last_link(email.strip().lower())
    await world.service.activate(link["uid"], link["token"])
    return user_id


async def assert_login_fails(world: World, email: str, password: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        await world.service.login(email, password)
    assert caught.value.message == LOGIN_FAILED


async def assert_refresh_refused(world: World, token: str) -> None:
    with pytest.raises(AuthenticationFailed):
        await world.service.refresh(token)


# ------------------------------------------------------------------------------------------ register


async def test_register_creates_an_inactive_user_and_one_activation_email_with_the_frontend_link(world: World) -> None:
    registration = await world.service.register("  Jane@Example.COM ", PASSWORD, PASSWORD)

    user = registration.user
    assert user.id is not None and user.email == EMAIL and not user.is_active and not user.is_staff
    stored = world.uow.state.users[user.id]
    assert not stored.is_active
    assert stored.password_hash != PASSWORD and await world.hasher.verify(stored.password_hash, PASSWORD)

    (row,) = world.outbox
    assert row.message.to == EMAIL and row.status == "pending"
    token = world.last_link()["token"]
    expected = f"{FRONTEND_URL}/pages/auth/activate.html?uid={encode_uid(user.id)}&token={token}"
    assert expected in row.message.text
    assert world.emails.rendered == [("activation", EMAIL, expected)]


async def test_s8_activation_token_is_strong_stored_only_as_a_hash_and_expires_in_24_hours(world: World) -> None:
    await world.service.register(EMAIL, PASSWORD, PASSWORD)

    token = world.last_link()["token"]
    assert len(token) >= 22  # >= 128 bits of URL-safe base64
    (stored,) = world.uow.state.one_time_tokens.values()
    assert stored.token_hash == hash_token(token) and token not in world.uow.state.one_time_tokens
    assert stored.purpose is TokenPurpose.ACTIVATION and stored.used_at is None
    assert stored.expires_at == world.clock.now() + timedelta(hours=24)
    await world.service.register("john@example.com", PASSWORD, PASSWORD)
    assert world.last_link("john@example.com")["token"] != token


async def test_register_rings_deliver_email_only_after_the_commit(world: World) -> None:
    seen: list[tuple[Ring, int, int, bool]] = []
    world.queue.on_enqueue = lambda ring: seen.append(
        (ring, world.uow.open_count, world.uow.committed, ring.kwargs["outbox_id"] in world.uow.state.outbox)
    )

    await world.service.register(EMAIL, PASSWORD, PASSWORD)

    (row,) = world.outbox
    ((ring, open_transactions, commits, row_exists),) = seen
    assert (ring.job, ring.key, ring.kwargs) == (Job.DELIVER_EMAIL, f"email:{row.id}", {"outbox_id": row.id})
    assert open_transactions == 0 and commits == 1 and row_exists


@pytest.mark.parametrize(
    ("email", "password", "confirmed"),
    [
        pytest.param(EMAIL, PASSWORD, PASSWORD + "x", id="mismatching-passwords"),
        pytest.param(EMAIL, PASSWORD, PASSWORD.upper(), id="mismatching-case"),
        pytest.param("not-an-email", PASSWORD, PASSWORD, id="malformed-email"),
        pytest.param("jane@example", PASSWORD, PASSWORD, id="email-without-dot"),
        pytest.param("x,victim@example.com", PASSWORD, PASSWORD, id="address-list"),
        pytest.param("", PASSWORD, PASSWORD, id="empty-email"),
        pytest.param("a" * 310 + "@example.com", PASSWORD, PASSWORD, id="overlong-email"),
    ],
)
async def test_s5_bad_registration_input_gives_the_generic_error_and_creates_nothing(
    world: World, email: str, password: str, confirmed: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await world.service.register(email, password, confirmed)

    assert caught.value.message == GENERIC_INPUT_ERROR
    assert world.uow.state.users == {} and world.outbox == [] and world.queue.rings == []


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        pytest.param("Sh0rt!", [TOO_SHORT], id="too-short"),
        pytest.param("aaaaaaaa", [TOO_COMMON], id="aaaaaaaa"),
        pytest.param("password123", [TOO_COMMON], id="common"),
        pytest.param("8423975123", [ENTIRELY_NUMERIC], id="digits-only"),
        pytest.param("12345", [TOO_SHORT, TOO_COMMON, ENTIRELY_NUMERIC], id="every-rule-reported"),
        pytest.param(EMAIL, [TOO_SIMILAR], id="password-is-the-email"),
        pytest.param("JaneDoe@Example", [TOO_SIMILAR], id="similar-to-the-email"),
    ],
)
async def test_s28_a_refused_password_names_its_field_and_every_rule_it_breaks(
    password: str, problems: list[str]
) -> None:
    world = make_world()
    email = "jane.doe@example.com"
    with pytest.raises(PasswordRefused) as caught:
        await world.service.register(email, password, password)

    assert (caught.value.field, caught.value.problems) == ("password", problems)
    assert world.uow.state.users == {} and world.outbox == [] and world.queue.rings == []


async def test_s28_a_weak_password_is_judged_before_the_address_is_looked_up(world: World) -> None:
    """S6: the answer to a weak password is the same whether the address is taken or not."""
    await active_user(world)

    with pytest.raises(PasswordRefused) as taken:
        await world.service.register(EMAIL, "aaaaaaaa", "aaaaaaaa")
    with pytest.raises(PasswordRefused) as free:
        await world.service.register("free@example.com", "aaaaaaaa", "aaaaaaaa")

    assert (taken.value.field, taken.value.problems) == (free.value.field, free.value.problems)


@pytest.mark.parametrize("activate_first", [False, True], ids=["inactive", "active"])
async def test_s6_registering_an_existing_email_gives_the_same_generic_error_and_sends_nothing(
    world: World, activate_first: bool
) -> None:
    user_id = await (active_user if activate_first else registered)(world)
    before = world.uow.state.users[user_id]
    world.queue.clear()

    with pytest.raises(InvalidInput) as caught:
        await world.service.register(" JANE@example.com", "attacker-Chosen-99", "attacker-Chosen-99")

    assert caught.value.message == GENERIC_INPUT_ERROR
    assert str(caught.value) == str(InvalidInput(GENERIC_INPUT_ERROR))
    assert len(world.emails_to(EMAIL)) == 1  # only the original activation email
    assert world.queue.rings == []
    assert world.uow.state.users[user_id] == before  # password and state untouched
    assert len(world.uow.state.users) == 1


async def test_s5_a_long_password_works_as_typed_and_is_not_truncated(world: World) -> None:
    password = "Lg-" + "".join(f"{i:02d}x" for i in range(40))  # 123 characters
    assert len(password) > 72  # beyond bcrypt's silent truncation
    await active_user(world, password=password)

    session = await world.service.login(EMAIL, password)

    assert session.email == EMAIL
    await assert_login_fails(world, EMAIL, password[:72])
    await assert_login_fails(world, EMAIL, password[:64])
    await assert_login_fails(world, EMAIL, password + " ")


async def test_r2_registration_succeeds_when_the_doorbell_fails_and_the_sweep_rings_later(world: World) -> None:
    world.queue.available = False

    registration = await world.service.register(EMAIL, PASSWORD, PASSWORD)

    assert registration.user.id in world.uow.state.users
    (row,) = world.outbox
    assert row.status == "pending"
    assert world.queue.delivered() == [] and len(world.queue.rings) == 1  # it tried, and it did not matter

    world.queue.available = True
    assert await world.delivery().sweep() == 1
    assert world.queue.jobs == [(Job.DELIVER_EMAIL, f"email:{row.id}", None, {"outbox_id": row.id})]
    assert await world.delivery().deliver(row.id) == "sent"
    (sent,) = world.mailer.sent
    assert world.last_link()["url"] in sent.message.text


async def test_a_registration_that_breaks_midway_leaves_nothing_behind_and_can_be_retried(world: World) -> None:
    def broken(to: str, link: str) -> None:
        raise RuntimeError("template missing")

    world.emails.activation = broken  # type: ignore[method-assign,assignment]

    with pytest.raises(RuntimeError):
        await world.service.register(EMAIL, PASSWORD, PASSWORD)

    assert world.uow.state.users == {} and world.uow.state.one_time_tokens == {} and world.outbox == []
    assert world.queue.rings == [] and world.uow.rolled_back == 1
    del world.emails.activation
    await registered(world)  # the email is not "taken" by the broken attempt


# ------------------------------------------------------------------------------------------ activate


async def test_the_activation_link_from_the_email_activates_the_account(world: World) -> None:
    user_id = await registered(world)
    link = world.last_link()
    assert link["page"] == "activate.html"

    await world.service.activate(link["uid"], link["token"])

    assert world.uow.state.users[user_id].is_active
    assert (await world.service.login(EMAIL, PASSWORD)).user_id == user_id


async def test_s8_a_used_activation_link_fails(world: World) -> None:
    await registered(world)
    link = world.last_link()
    await world.service.activate(link["uid"], link["token"])

    with pytest.raises(InvalidInput) as caught:
        await world.service.activate(link["uid"], link["token"])
    assert caught.value.message == ACTIVATION_FAILED


async def test_s8_activation_link_works_until_24_hours_and_fails_after(world: World) -> None:
    user_id = await registered(world)
    link = world.last_link()

    world.clock.advance(hours=24, seconds=1)
    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(link["uid"], link["token"])
    assert not world.uow.state.users[user_id].is_active

    other = make_world()
    other_id = await registered(other)
    link = other.last_link()
    other.clock.advance(hours=23, minutes=59)
    await other.service.activate(link["uid"], link["token"])
    assert other.uow.state.users[other_id].is_active


async def test_s8_a_password_reset_token_cannot_activate_an_account(world: World) -> None:
    user_id = await registered(world)
    reset_token = "a-valid-reset-token-of-this-very-user-0123456789"
    async with world.uow() as uow:
        await uow.one_time_tokens.add(
            OneTimeToken(
                token_hash=hash_token(reset_token),
                user_id=user_id,
                purpose=TokenPurpose.PASSWORD_RESET,
                created_at=world.clock.now(),
                expires_at=world.clock.now() + timedelta(hours=1),
            )
        )
        await uow.commit()

    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(encode_uid(user_id), reset_token)

    assert not world.uow.state.users[user_id].is_active
    assert world.uow.state.one_time_tokens[hash_token(reset_token)].used_at is None


async def test_s8_an_activation_token_cannot_reset_the_password_and_stays_usable(world: World) -> None:
    user_id = await registered(world)
    link = world.last_link()

    with pytest.raises(InvalidInput):
        await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    assert world.uow.state.users[user_id].password_hash == await world.hasher.hash(PASSWORD)
    await world.service.activate(link["uid"], link["token"])
    assert world.uow.state.users[user_id].is_active


@pytest.mark.parametrize("uid", ["", "!!!", "abc", "MTI=x", encode_uid(999), "LTE", "A" * 100])
async def test_activation_with_a_garbage_or_unknown_uid_fails(world: World, uid: str) -> None:
    await registered(world)
    link = world.last_link()

    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(uid, link["token"])
    assert not any(user.is_active for user in world.uow.state.users.values())


@pytest.mark.parametrize("token", ["", "wrong", "x" * 129, "\udcff"])
async def test_activation_with_a_wrong_token_fails(world: World, token: str) -> None:
    user_id = await registered(world)

    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(encode_uid(user_id), token)
    assert not world.uow.state.users[user_id].is_active


async def test_an_activation_token_only_works_for_its_own_user(world: World) -> None:
    jane = await registered(world)
    jane_link = world.last_link()
    john = await registered(world, "john@example.com")

    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(encode_uid(john), jane_link["token"])

    assert not world.uow.state.users[john].is_active and not world.uow.state.users[jane].is_active
    await world.service.activate(jane_link["uid"], jane_link["token"])  # not spent by the failed attempt


async def test_s8_activating_an_already_active_account_fails_even_with_an_unused_token(world: World) -> None:
    user_id = await active_user(world)
    spare = "a-second-unused-activation-token-0123456789abc"
    async with world.uow() as uow:
        await uow.one_time_tokens.add(
            OneTimeToken(
                hash_token(spare),
                user_id,
                TokenPurpose.ACTIVATION,
                world.clock.now(),
                world.clock.now() + timedelta(hours=1),
            )
        )
        await uow.commit()

    with pytest.raises(InvalidInput, match=ACTIVATION_FAILED):
        await world.service.activate(encode_uid(user_id), spare)


# ------------------------------------------------------------------------------------------ login


async def test_login_returns_an_access_and_a_refresh_token_for_the_user(world: World) -> None:
    user_id = await active_user(world)

    session = await world.service.login(" JANE@example.com ", PASSWORD)

    assert (session.user_id, session.email) == (user_id, EMAIL)
    assert world.tokens.decode_access(session.access.token).user_id == user_id
    refresh = world.tokens.decode_refresh(session.refresh.token)
    assert refresh.user_id == user_id and refresh.family_id
    record = world.uow.state.refresh_tokens[session.refresh.jti]
    assert record.user_id == user_id and record.family_id == refresh.family_id and record.revoked_at is None


async def test_each_login_starts_its_own_session_family(world: World) -> None:
    await active_user(world)

    first = await world.service.login(EMAIL, PASSWORD)
    second = await world.service.login(EMAIL, PASSWORD)

    records = world.uow.state.refresh_tokens
    assert records[first.refresh.jti].family_id != records[second.refresh.jti].family_id


async def test_s4_unknown_email_wrong_password_and_inactive_account_fail_alike(world: World) -> None:
    await active_user(world)
    await registered(world, "inactive@example.com")

    failures = []
    for email, password in [
        ("nobody@example.com", PASSWORD),
        (EMAIL, PASSWORD + "!"),
        (EMAIL, ""),
        ("inactive@example.com", PASSWORD),
        ("inactive@example.com", "wrong-Password-1"),
        ("not an email", PASSWORD),
    ]:
        with pytest.raises(AuthenticationFailed) as caught:
            await world.service.login(email, password)
        failures.append((type(caught.value), caught.value.message, str(caught.value)))

    assert len(set(failures)) == 1
    assert failures[0] == (AuthenticationFailed, LOGIN_FAILED, LOGIN_FAILED)
    assert world.uow.state.refresh_tokens == {}  # no session for anyone


async def test_s4_unknown_email_spends_a_dummy_verification(world: World) -> None:
    await active_user(world)

    await assert_login_fails(world, "nobody@example.com", PASSWORD)
    assert world.hasher.dummy_verifications == 1

    verifications = world.hasher.verifications
    await assert_login_fails(world, EMAIL, "wrong-Password-1")
    assert world.hasher.verifications == verifications + 1 and world.hasher.dummy_verifications == 1

    await assert_login_fails(world, "malformed", PASSWORD)
    assert world.hasher.dummy_verifications == 2


async def test_s2_an_outdated_hash_is_replaced_on_successful_login(world: World) -> None:
    user_id = await active_user(world)
    changed_at = world.uow.state.users[user_id].password_changed_at
    world.hasher.params = "v2"  # stronger parameters deployed since the account was made
    assert world.hasher.needs_rehash(world.uow.state.users[user_id].password_hash)

    await assert_login_fails(world, EMAIL, "wrong-Password-1")
    assert world.uow.state.users[user_id].password_hash.startswith("hashed:v1:")  # not on a failed login

    await world.service.login(EMAIL, PASSWORD)

    user = world.uow.state.users[user_id]
    assert user.password_hash.startswith("hashed:v2:") and not world.hasher.needs_rehash(user.password_hash)
    assert user.password_changed_at == changed_at  # a rehash is not a password change
    await world.service.login(EMAIL, PASSWORD)


async def test_s2_a_current_hash_is_left_alone(world: World) -> None:
    user_id = await active_user(world)
    before = world.uow.state.users[user_id].password_hash
    hashes = world.hasher.hashes

    await world.service.login(EMAIL, PASSWORD)

    assert world.uow.state.users[user_id].password_hash == before and world.hasher.hashes == hashes


# ------------------------------------------------------------------------------------------ refresh and logout


async def logged_in(world: World) -> Session:
    await active_user(world)
    return await world.service.login(EMAIL, PASSWORD)


async def test_s11_refresh_returns_a_new_refresh_token_and_refuses_the_old_one(world: World) -> None:
    session = await logged_in(world)

    renewed = await world.service.refresh(session.refresh.token)

    assert renewed.refresh.token != session.refresh.token and renewed.refresh.jti != session.refresh.jti
    assert world.tokens.decode_access(renewed.access.token).user_id == session.user_id
    records = world.uow.state.refresh_tokens
    assert records[session.refresh.jti].revoked_at is not None
    assert records[renewed.refresh.jti].family_id == records[session.refresh.jti].family_id
    await assert_refresh_refused(world, session.refresh.token)


async def test_s11_a_chain_of_refreshes_keeps_working(world: World) -> None:
    session = await logged_in(world)
    for _ in range(5):
        world.clock.advance(minutes=20)
        session = await world.service.refresh(session.refresh.token)
    assert world.tokens.decode_access(session.access.token).user_id == session.user_id


async def test_s11_replaying_a_rotated_token_revokes_the_whole_family(world: World) -> None:
    stolen = await logged_in(world)
    other_device = await world.service.login(EMAIL, PASSWORD)
    newest = await world.service.refresh(stolen.refresh.token)

    await assert_refresh_refused(world, stolen.refresh.token)  # the replay

    await assert_refresh_refused(world, newest.refresh.token)  # the legitimate holder is logged out too
    family = world.uow.state.refresh_tokens[newest.refresh.jti].family_id
    assert all(
        record.revoked_at is not None
        for record in world.uow.state.refresh_tokens.values()
        if record.family_id == family
    )
    await world.service.refresh(other_device.refresh.token)  # another session is not affected


async def test_s11_parallel_refreshes_with_one_token_succeed_at_most_once(world: World) -> None:
    session = await logged_in(world)

    results = await asyncio.gather(
        *(world.service.refresh(session.refresh.token) for _ in range(10)), return_exceptions=True
    )

    successes = [r for r in results if isinstance(r, Session)]
    assert len(successes) == 1
    assert all(isinstance(r, AuthenticationFailed) for r in results if not isinstance(r, Session))


async def test_s7_an_access_token_is_refused_as_a_refresh_token(world: World) -> None:
    session = await logged_in(world)

    await assert_refresh_refused(world, session.access.token)
    await world.service.logout(session.access.token)  # nothing to revoke, no error

    await world.service.refresh(session.refresh.token)  # the misuse did not burn the session


async def test_s7_with_the_real_jwt_codec_token_types_are_not_interchangeable() -> None:
    # PyJWT judges exp and iat by the wall clock, so the fake clock starts at the real time.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    codec = JwtTokenCodec(
        "unit-test-secret-key-long-enough-for-hs256-0123456789", timedelta(minutes=30), timedelta(days=7)
    )
    world = make_world(clock, codec)
    session = await logged_in(world)

    await assert_refresh_refused(world, session.access.token)
    with pytest.raises(AuthenticationFailed):
        codec.decode_access(session.refresh.token)

    renewed = await world.service.refresh(session.refresh.token)
    assert codec.decode_access(renewed.access.token).user_id == session.user_id
    await assert_refresh_refused(world, session.refresh.token)


@pytest.mark.parametrize("token", ["", "garbage", "fake-refresh-" + "0" * 32])
async def test_garbage_refresh_tokens_are_refused(world: World, token: str) -> None:
    await logged_in(world)
    await assert_refresh_refused(world, token)


async def test_an_expired_refresh_token_is_refused(world: World) -> None:
    session = await logged_in(world)
    world.clock.advance(days=7, seconds=1)
    await assert_refresh_refused(world, session.refresh.token)


async def test_a_refresh_token_the_server_never_recorded_is_refused(world: World) -> None:
    session = await logged_in(world)
    forged = world.tokens.issue_refresh(session.user_id, "some-family", world.clock.now())

    await assert_refresh_refused(world, forged.token)
    assert forged.jti not in world.uow.state.refresh_tokens


async def test_s10_logout_revokes_the_session_family(world: World) -> None:
    session = await logged_in(world)
    renewed = await world.service.refresh(session.refresh.token)
    other_device = await world.service.login(EMAIL, PASSWORD)

    await world.service.logout(renewed.refresh.token)

    await assert_refresh_refused(world, renewed.refresh.token)
    await world.service.refresh(other_device.refresh.token)


async def test_s10_logout_with_an_old_token_of_the_session_also_ends_it(world: World) -> None:
    session = await logged_in(world)
    renewed = await world.service.refresh(session.refresh.token)

    await world.service.logout(session.refresh.token)

    await assert_refresh_refused(world, renewed.refresh.token)


@pytest.mark.parametrize("token", ["", "garbage"])
async def test_logout_with_an_unreadable_token_does_nothing(world: World, token: str) -> None:
    session = await logged_in(world)
    await world.service.logout(token)
    await world.service.refresh(session.refresh.token)


# ------------------------------------------------------------------------------------------ password reset


async def test_reset_request_for_an_unknown_email_sends_nothing_and_says_nothing(world: World) -> None:
    await active_user(world)
    world.queue.clear()
    outbox_before = len(world.outbox)

    await world.service.request_password_reset("nobody@example.com")  # no error: the caller learns nothing

    assert len(world.outbox) == outbox_before and world.queue.rings == []
    assert all(t.purpose is TokenPurpose.ACTIVATION for t in world.uow.state.one_time_tokens.values())


async def test_reset_request_for_an_inactive_account_sends_nothing(world: World) -> None:
    await registered(world)
    world.queue.clear()

    await world.service.request_password_reset(EMAIL)

    assert len(world.emails_to(EMAIL)) == 1  # the activation email only
    assert world.queue.rings == []


async def test_reset_request_with_a_malformed_email_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput):
        await world.service.request_password_reset("not-an-email")


async def test_reset_request_for_an_active_user_queues_one_email_with_the_confirm_link(world: World) -> None:
    user_id = await active_user(world)
    world.queue.clear()
    rings: list[tuple[int, bool]] = []
    world.queue.on_enqueue = lambda ring: rings.append(
        (world.uow.open_count, ring.kwargs["outbox_id"] in world.uow.state.outbox)
    )

    await world.service.request_password_reset(" Jane@Example.com")

    reset_emails = [row for row in world.emails_to(EMAIL) if "confirm_password.html" in row.message.text]
    assert len(reset_emails) == 1
    link = world.last_link()
    assert link["url"].startswith(f"{FRONTEND_URL}/pages/auth/confirm_password.html?uid={encode_uid(user_id)}&token=")
    (ring,) = world.queue.rings
    assert (ring.job, ring.kwargs) == (Job.DELIVER_EMAIL, {"outbox_id": reset_emails[0].id})
    assert rings == [(0, True)]  # rung after the commit
    stored = world.uow.state.one_time_tokens[hash_token(link["token"])]
    assert stored.purpose is TokenPurpose.PASSWORD_RESET
    assert stored.expires_at == world.clock.now() + timedelta(hours=1)


async def reset_link(world: World) -> re.Match[str]:
    await world.service.request_password_reset(EMAIL)
    return world.last_link()


async def test_confirming_a_reset_sets_the_new_password(world: World) -> None:
    user_id = await active_user(world)
    link = await reset_link(world)
    world.clock.advance(minutes=5)

    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    assert (await world.service.login(EMAIL, NEW_PASSWORD)).user_id == user_id
    await assert_login_fails(world, EMAIL, PASSWORD)
    assert world.uow.state.users[user_id].password_changed_at == world.clock.now()


async def test_s8_a_reset_link_works_once(world: World) -> None:
    await active_user(world)
    link = await reset_link(world)
    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    with pytest.raises(InvalidInput) as caught:
        await world.service.confirm_password_reset(link["uid"], link["token"], PASSWORD, PASSWORD)

    assert caught.value.message == GENERIC_INPUT_ERROR
    await world.service.login(EMAIL, NEW_PASSWORD)


async def test_s12_a_password_reset_revokes_every_refresh_token_issued_before(world: World) -> None:
    await active_user(world)
    laptop = await world.service.login(EMAIL, PASSWORD)
    phone = await world.service.login(EMAIL, PASSWORD)
    phone = await world.service.refresh(phone.refresh.token)
    link = await reset_link(world)

    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    await assert_refresh_refused(world, laptop.refresh.token)
    await assert_refresh_refused(world, phone.refresh.token)
    fresh = await world.service.login(EMAIL, NEW_PASSWORD)
    await world.service.refresh(fresh.refresh.token)


async def test_s8_a_reset_spends_every_other_outstanding_reset_link(world: World) -> None:
    user_id = await active_user(world)
    first = await reset_link(world)
    # A second link out at the same time (no request makes one now, S28; links from before that rule could be).
    second = {"uid": first["uid"], "token": "a-second-outstanding-reset-token-0123456789"}
    async with world.uow() as uow:
        now = world.clock.now()
        reset = TokenPurpose.PASSWORD_RESET
        await uow.one_time_tokens.add(
            OneTimeToken(hash_token(second["token"]), user_id, reset, now, now + timedelta(hours=1))
        )
        await uow.commit()

    await world.service.confirm_password_reset(second["uid"], second["token"], NEW_PASSWORD, NEW_PASSWORD)

    with pytest.raises(InvalidInput):
        await world.service.confirm_password_reset(
            first["uid"], first["token"], "third-Password-42", "third-Password-42"
        )
    await world.service.login(EMAIL, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("new", "confirm", "problems"),
    [
        pytest.param(NEW_PASSWORD, NEW_PASSWORD + "x", None, id="mismatch"),
        pytest.param("Sh0rt!", "Sh0rt!", [TOO_SHORT], id="too-short"),
        pytest.param("qwerty123", "qwerty123", [TOO_COMMON], id="common"),
        pytest.param("26401938", "26401938", [ENTIRELY_NUMERIC], id="digits-only"),
        pytest.param(EMAIL, EMAIL, [TOO_SIMILAR], id="the-email"),
    ],
)
async def test_s5_s28_a_bad_new_password_is_refused_and_the_link_stays_usable(
    world: World, new: str, confirm: str, problems: list[str] | None
) -> None:
    await active_user(world)
    link = await reset_link(world)

    with pytest.raises(InvalidInput) as caught:
        await world.service.confirm_password_reset(link["uid"], link["token"], new, confirm)

    if problems is None:
        assert caught.value.message == GENERIC_INPUT_ERROR
    else:
        assert isinstance(caught.value, PasswordRefused)
        assert (caught.value.field, caught.value.problems) == ("new_password", problems)
    await world.service.login(EMAIL, PASSWORD)  # unchanged
    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)
    await world.service.login(EMAIL, NEW_PASSWORD)


async def test_s8_a_reset_link_expires_after_an_hour(world: World) -> None:
    await active_user(world)
    link = await reset_link(world)
    world.clock.advance(hours=1, seconds=1)

    with pytest.raises(InvalidInput):
        await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)

    await world.service.login(EMAIL, PASSWORD)


async def test_a_reset_link_only_works_for_its_own_user(world: World) -> None:
    await active_user(world)
    john = await active_user(world, "john@example.com")
    link = await reset_link(world)

    with pytest.raises(InvalidInput):
        await world.service.confirm_password_reset(encode_uid(john), link["token"], NEW_PASSWORD, NEW_PASSWORD)

    await world.service.login("john@example.com", PASSWORD)
    await world.service.confirm_password_reset(link["uid"], link["token"], NEW_PASSWORD, NEW_PASSWORD)


@pytest.mark.parametrize("uid", ["", "!!!", encode_uid(999)])
async def test_a_reset_with_a_garbage_uid_fails(world: World, uid: str) -> None:
    await active_user(world)
    link = await reset_link(world)

    with pytest.raises(InvalidInput):
        await world.service.confirm_password_reset(uid, link["token"], NEW_PASSWORD, NEW_PASSWORD)


# ------------------------------------------------------------------------------------------ admin


async def test_create_admin_makes_an_active_staff_account_and_promotes_an_existing_one(world: World) -> None:
    admin = await world.service.create_admin("Admin@Example.com", PASSWORD)
    assert admin.is_active and admin.is_staff
    await world.service.login("admin@example.com", PASSWORD)

    user_id = await registered(world)
    promoted = await world.service.create_admin(EMAIL, NEW_PASSWORD)

    stored = world.uow.state.users[user_id]
    assert promoted.id == user_id and stored.is_active and stored.is_staff
    await world.service.login(EMAIL, NEW_PASSWORD)
    assert promoted.is_staff and promoted.is_active  # the returned user is the promoted one


async def test_ensure_account_for_a_viewer_never_takes_over_a_staff_account(world: World) -> None:
    viewer, outcome = await world.service.ensure_account("viewer@example.com", PASSWORD, staff=False)
    assert outcome == "created" and viewer.is_active and not viewer.is_staff
    again, outcome = await world.service.ensure_account("viewer@example.com", NEW_PASSWORD, staff=False)
    assert outcome == "updated" and again.id == viewer.id and not again.is_staff
    await world.service.login("viewer@example.com", NEW_PASSWORD)

    await world.service.create_admin("boss@example.com", PASSWORD)
    with pytest.raises(Conflict):
        await world.service.ensure_account("boss@example.com", NEW_PASSWORD, staff=False)
    await world.service.login("boss@example.com", PASSWORD)  # untouched
