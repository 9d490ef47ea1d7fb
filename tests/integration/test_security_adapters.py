"""The security adapters for real: argon2id hashing, PyJWT tokens, and rate limits in memory and on Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import argon2
import jwt
import pytest
from argon2 import Type, extract_parameters

from tests.conftest import make_settings
from videoflix.adapters.queue.saq_queue import create_redis
from videoflix.adapters.security import ratelimit
from videoflix.adapters.security.passwords import Argon2PasswordHasher
from videoflix.adapters.security.ratelimit import MemoryRateLimiter, RedisRateLimiter
from videoflix.adapters.security.tokens import JwtTokenCodec
from videoflix.bootstrap import Container, bootstrap
from videoflix.domain.accounts.model import User
from videoflix.domain.errors import AuthenticationFailed

PASSWORD = "tangerine-rocket-harbour-42"


@pytest.fixture
async def hasher() -> AsyncIterator[Argon2PasswordHasher]:
    built = Argon2PasswordHasher()
    yield built
    built.close()


# -- S1, S2, S3, S5: passwords ---------------------------------------------------------------------------------


async def test_s1_hashes_are_argon2id_with_owasp_minimum_cost_and_salted(hasher: Argon2PasswordHasher) -> None:
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)
    for stored in (first, second):
        parameters = extract_parameters(stored)  # parsed from the stored string, not from our constants
        assert stored.startswith("$argon2id$")
        assert parameters.type is Type.ID
        assert parameters.memory_cost >= 19456
        assert parameters.time_cost >= 2
        assert parameters.salt_len >= 16
        assert await hasher.verify(stored, PASSWORD)
        assert not hasher.needs_rehash(stored)
    assert first != second  # a random salt per hash


async def test_s2_a_weaker_hash_still_verifies_and_asks_for_a_rehash(hasher: Argon2PasswordHasher) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert await hasher.verify(weak, PASSWORD)
    assert not await hasher.verify(weak, PASSWORD + "!")
    assert hasher.needs_rehash(weak)
    assert hasher.needs_rehash("not-a-hash")  # unreadable: replace it on the next successful login


async def test_s2_login_upgrades_a_weaker_stored_hash(container: Container) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with container.uow() as uow:
        user = await uow.users.add(
            User(email="old@example.com", password_hash=weak, created_at=datetime.now(UTC), is_active=True)
        )
        await uow.commit()
    assert user.id is not None

    await container.accounts.login("old@example.com", PASSWORD)

    stored = await container.accounts.get_user(user.id)
    assert stored is not None and stored.password_hash != weak
    parameters = extract_parameters(stored.password_hash)
    assert parameters.type is Type.ID and parameters.memory_cost >= 19456 and parameters.time_cost >= 2
    assert stored.password_changed_at is None  # a rehash is not a password change: sessions stay valid
    assert (await container.accounts.login("old@example.com", PASSWORD)).user_id == user.id
    with pytest.raises(AuthenticationFailed):
        await container.accounts.login("old@example.com", PASSWORD + "!")


class _RecordingHasher:
    """argon2's hasher, noting which thread each hash runs on."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.threads: set[int] = set()

    def hash(self, password: str) -> str:
        self.threads.add(threading.get_ident())
        return self._inner.hash(password)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_s3_hashing_runs_off_the_event_loop_with_bounded_threads(hasher: Argon2PasswordHasher) -> None:
    """Shown by structure, not by timing (robust on a loaded machine): every hash runs on a worker thread, at most
    two such threads exist, and the event loop keeps turning while 20 hashes run. Were a hash run on the loop,
    the ticker could only turn between hashes, about 20 times in all."""
    recording = _RecordingHasher(hasher._hasher)
    hasher._hasher = recording  # type: ignore[assignment]
    turns = 0
    finished = asyncio.Event()

    async def ticker() -> None:
        nonlocal turns
        while not finished.is_set():
            await asyncio.sleep(0)
            turns += 1

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    hashes = await asyncio.gather(*(hasher.hash(f"{PASSWORD}-{i}") for i in range(20)))
    finished.set()
    await ticking

    assert len(set(hashes)) == 20
    assert threading.get_ident() not in recording.threads, "a hash ran on the event loop's thread"
    assert 1 <= len(recording.threads) <= 2  # bounded: 20 concurrent hashes never mean 20 x 19 MiB
    assert turns > 200, f"the loop turned only {turns} times while hashing"


async def test_s5_long_passwords_are_checked_as_typed(hasher: Argon2PasswordHasher) -> None:
    long_password = "".join("abcdefghij"[i % 10] for i in range(100))
    almost = long_password[:79] + ("X" if long_password[79] != "X" else "Y") + long_password[80:]
    assert len(long_password) == len(almost) == 100 and almost[79] != long_password[79]

    stored = await hasher.hash(long_password)
    assert await hasher.verify(stored, long_password)
    assert not await hasher.verify(stored, almost)  # no truncation at 72 bytes (bcrypt) or anywhere else
    assert not await hasher.verify(stored, long_password[:99])
    assert not await hasher.verify(stored, long_password + " ")  # no trimming either


async def test_s5_login_with_a_100_character_password(container: Container) -> None:
    long_password = "Correct-Horse-" * 7 + "Battery-St"
    assert len(long_password) == 108
    await container.accounts.create_admin("long@example.com", long_password)
    assert (await container.accounts.login("long@example.com", long_password)).email == "long@example.com"
    almost = long_password[:79] + "#" + long_password[80:]
    with pytest.raises(AuthenticationFailed):
        await container.accounts.login("long@example.com", almost)


# -- S7: JWTs --------------------------------------------------------------------------------------------------

KEY = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
OTHER_KEY = "another-secret-key-that-is-long-enough-for-hs256-987654"


def now() -> datetime:
    """Tokens are issued at the moment of the test (a module-level constant goes stale in a long run)."""
    return datetime.now(UTC)


@pytest.fixture
def codec() -> JwtTokenCodec:
    return JwtTokenCodec(KEY, access_ttl=timedelta(minutes=30), refresh_ttl=timedelta(days=7))


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def test_s7_valid_tokens_decode_to_their_claims(codec: JwtTokenCodec) -> None:
    access = codec.issue_access(42, "family-1", now())
    refresh = codec.issue_refresh(42, "family-1", now())
    claims = codec.decode_access(access.token)
    assert (claims.user_id, claims.jti, claims.family_id) == (42, access.jti, "family-1")
    assert abs(claims.expires_at - access.expires_at) < timedelta(seconds=1)
    refreshed = codec.decode_refresh(refresh.token)
    assert (refreshed.user_id, refreshed.family_id) == (42, "family-1")
    assert jwt.get_unverified_header(access.token)["alg"] == "HS256"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # forging with our key on purpose
def test_s7_alg_none_and_other_algorithms_are_refused(codec: JwtTokenCodec) -> None:
    good = codec.issue_access(1, "fam", now()).token
    payload = claims_of(good)
    _header, body, signature = good.split(".")
    forged = [
        jwt.encode(payload, None, algorithm="none"),
        f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{body}.",
        f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{body}.{signature}",  # alg stripped, signature kept
        f"{b64json({'alg': 'NONE', 'typ': 'JWT'})}.{body}.",
        jwt.encode(payload, KEY, algorithm="HS512"),
        jwt.encode(payload, KEY, algorithm="HS384"),
        f"{b64json({'alg': 'HS512', 'typ': 'JWT'})}.{body}.{signature}",  # header says another alg
    ]
    for token in forged:
        with pytest.raises(AuthenticationFailed):
            codec.decode_access(token)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "type", "iss", "fam"])
def test_s7_a_token_missing_a_required_claim_is_refused(codec: JwtTokenCodec, claim: str) -> None:
    for token, decode in (
        (codec.issue_access(1, "fam", now()).token, codec.decode_access),
        (codec.issue_refresh(1, "fam", now()).token, codec.decode_refresh),
    ):
        payload = claims_of(token)
        del payload[claim]
        with pytest.raises(AuthenticationFailed):
            decode(jwt.encode(payload, KEY, algorithm="HS256"))


def test_s7_expired_tokens_are_refused(codec: JwtTokenCodec) -> None:
    with pytest.raises(AuthenticationFailed):
        codec.decode_access(codec.issue_access(1, "fam", now() - timedelta(minutes=31)).token)
    with pytest.raises(AuthenticationFailed):
        codec.decode_refresh(codec.issue_refresh(1, "fam", now() - timedelta(days=7, seconds=1)).token)
    codec.decode_access(codec.issue_access(1, "fam", now() - timedelta(minutes=29)).token)  # still valid


def test_s7_access_and_refresh_tokens_are_not_interchangeable(codec: JwtTokenCodec) -> None:
    with pytest.raises(AuthenticationFailed):
        codec.decode_access(codec.issue_refresh(1, "fam", now()).token)
    with pytest.raises(AuthenticationFailed):
        codec.decode_refresh(codec.issue_access(1, "fam", now()).token)
    # A forged access token with a family still is not a refresh token.
    payload = claims_of(codec.issue_access(1, "fam", now()).token)
    with pytest.raises(AuthenticationFailed):
        codec.decode_refresh(jwt.encode(payload, KEY, algorithm="HS256"))


def test_s7_tokens_signed_with_another_key_or_issuer_are_refused(codec: JwtTokenCodec) -> None:
    foreign = JwtTokenCodec(OTHER_KEY, access_ttl=timedelta(minutes=30), refresh_ttl=timedelta(days=7))
    with pytest.raises(AuthenticationFailed):
        codec.decode_access(foreign.issue_access(1, "fam", now()).token)
    with pytest.raises(AuthenticationFailed):
        codec.decode_refresh(foreign.issue_refresh(1, "fam", now()).token)
    other_issuer = JwtTokenCodec(KEY, timedelta(minutes=30), timedelta(days=7), issuer="someone-else")
    with pytest.raises(AuthenticationFailed):
        codec.decode_access(other_issuer.issue_access(1, "fam", now()).token)


def _garbage(codec: JwtTokenCodec) -> list[str]:
    good = codec.issue_access(1, "fam", now()).token
    header, body, signature = good.split(".")
    hs256 = b64json({"alg": "HS256", "typ": "JWT"})
    return [
        "",
        " ",
        "null",
        "undefined",
        "a",
        "a.b",
        "a.b.c",
        ".",
        "..",
        "...",
        "a..c",
        "Bearer " + good,
        good + ".",
        good + "x",
        good[:-5],
        good[: len(good) // 2],
        f"{header}.{body}",
        f"{header}.{body}.{signature}.{signature}",
        f"{header}.{body}.{signature}.{body}.{signature}",  # JWE-shaped
        "é.é.é",
        "\x00.\x00.\x00",
        "\u2028.\u2029.\ufeff",
        "x" * 5000,
        f"{header}.{body}.{'A' * 10_000}",
        f"{hs256}.{b64(b'not json')}.{signature}",
        f"{hs256}.{b64json([1, 2, 3])}.{signature}",
        f"{hs256}.{b64json(12)}.{signature}",
        f"{b64json([1])}.{body}.{signature}",
        f"{b64json({'typ': 'JWT'})}.{body}.{signature}",
        f"{b64(b'{')}.{body}.{signature}",
        f"{header}==.{body}.{signature}",
        f"{header}.{body}.{signature}==",
        "eyJ.eyJ.eyJ",
        "%7B%7D.%7B%7D.",
    ]


def test_s7_garbage_of_every_shape_is_refused_with_authentication_failed(codec: JwtTokenCodec) -> None:
    """Whatever arrives in a cookie ends as AuthenticationFailed (401), never a 500 from another exception."""
    for token in _garbage(codec):
        for decode in (codec.decode_access, codec.decode_refresh):
            with pytest.raises(AuthenticationFailed):
                decode(token)


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": "abc"},
        {"sub": 7},
        {"sub": "-7"},
        {"sub": "²"},  # str.isdigit() says yes, int() says no
        {"sub": "٣"},  # an Arabic-Indic digit: not a user id
        {"sub": "9" * 40},  # beyond any BIGINT id
        {"jti": 123},
        {"type": "admin"},
        {"type": None},
        {"exp": "tomorrow"},
        {"exp": 10**20},  # beyond what datetime can represent
        {"exp": 1e300},
        {"iat": "now"},
        {"iat": "an hour from now"},  # issued in the future (filled in by the test)
        {"iss": "someone-else"},
    ],
    ids=repr,
)
def test_s7_correctly_signed_tokens_with_odd_claims_are_refused(codec: JwtTokenCodec, changes: dict[str, Any]) -> None:
    for token, decode in (
        (codec.issue_access(1, "fam", now()).token, codec.decode_access),
        (codec.issue_refresh(1, "fam", now()).token, codec.decode_refresh),
    ):
        payload = {**claims_of(token), **changes}
        if payload["iat"] == "an hour from now":
            payload["iat"] = int(now().timestamp()) + 3600
        with pytest.raises(AuthenticationFailed):
            decode(jwt.encode(payload, KEY, algorithm="HS256"))


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_s7_s27_a_token_without_a_session_is_refused(codec: JwtTokenCodec, kind: str) -> None:
    """Every token carries its session (the refresh-token family), access tokens too: ending the session must be
    able to refuse them (S27)."""
    issue, decode = (
        (codec.issue_access, codec.decode_access) if kind == "access" else (codec.issue_refresh, codec.decode_refresh)
    )
    payload = claims_of(issue(1, "fam", now()).token)
    for family in (None, 5, ["fam"], "", "f" * 65):
        forged = {**payload, "fam": family} if family is not None else {k: v for k, v in payload.items() if k != "fam"}
        with pytest.raises(AuthenticationFailed):
            decode(jwt.encode(forged, KEY, algorithm="HS256"))


# -- S15: rate limits ------------------------------------------------------------------------------------------

WINDOW = 60


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The limiter's clock, fixed in the middle of a window (a test must not straddle a window boundary)."""
    now = [(time.time() // WINDOW) * WINDOW + WINDOW / 2]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now[0]))
    return now


async def _hits(limiter: Any, key: str, count: int, limit: int = 3) -> list[bool]:
    return [await limiter.hit(key, limit, WINDOW) for _ in range(count)]


async def test_s15_memory_limiter_allows_limit_hits_per_window(frozen_time: list[float]) -> None:
    limiter = MemoryRateLimiter()
    assert await _hits(limiter, "login:ip:1.2.3.4", 5) == [True, True, True, False, False]
    assert await _hits(limiter, "login:ip:5.6.7.8", 1) == [True]  # keys are independent
    frozen_time[0] += WINDOW
    assert await _hits(limiter, "login:ip:1.2.3.4", 4) == [True, True, True, False]  # a new window


async def test_s15_redis_limiter_counts_in_redis_shared_by_every_process(
    redis_url: str, frozen_time: list[float]
) -> None:
    first_process, second_process = create_redis(redis_url), create_redis(redis_url)
    try:
        one, two = RedisRateLimiter(first_process), RedisRateLimiter(second_process)
        assert await _hits(one, "login:acct:ann@example.com", 2) == [True, True]
        assert await _hits(two, "login:acct:ann@example.com", 2) == [True, False]  # the count is shared
        assert await _hits(one, "login:acct:ann@example.com", 1) == [False]
        assert await _hits(two, "login:acct:bob@example.com", 1) == [True]

        keys = [key.decode() async for key in first_process.scan_iter("videoflix:rl:*")]
        [ann_key] = [key for key in keys if "ann@example.com" in key]
        assert int(await first_process.get(ann_key)) == 5
        assert 0 < await first_process.ttl(ann_key) <= WINDOW + 1  # windows clean themselves up

        frozen_time[0] += WINDOW
        assert await _hits(one, "login:acct:ann@example.com", 4) == [True, True, True, False]
    finally:
        await first_process.aclose()
        await second_process.aclose()


async def test_r2_redis_limiter_falls_back_to_counting_in_process_when_redis_is_down(
    frozen_time: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = create_redis("redis://127.0.0.1:1/0")
    limiter = RedisRateLimiter(unreachable)
    try:
        with caplog.at_level(logging.WARNING, logger="videoflix.adapters.security.ratelimit"):
            started = time.monotonic()
            assert await _hits(limiter, "register:ip:1.2.3.4", 4, limit=2) == [True, True, False, False]
            assert time.monotonic() - started < 4  # each hit gives up on Redis within its 0.5 s budget
        assert "Redis unavailable" in caplog.text
    finally:
        await unreachable.aclose()


async def test_s15_containers_on_one_redis_share_login_limits(redis_url: str, tmp_path: Path) -> None:
    """Two app processes (two containers) behind one load balancer: an attacker cannot double the budget."""
    settings = make_settings(tmp_path, REDIS_URL=redis_url)
    first = await bootstrap(settings, run_periodic_sweeps=False)
    second = await bootstrap(settings, run_periodic_sweeps=False)
    try:
        assert isinstance(first.rate_limiter, RedisRateLimiter)
        results = [await box.rate_limiter.hit("login:ip:9.9.9.9", 3, 3600) for box in (first, second) * 3]
        assert results.count(True) == 3 and results[3:] == [False, False, False]
    finally:
        await first.close()
        await second.close()
