"""S27: the in-memory set of ended sessions and its poller, on the fake database (the SQL one is in
tests/integration/test_session_revocations.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import timedelta

import pytest

from tests.fakes import FakeClock, FakeSessionRevocationLog, FakeUnitOfWorkFactory
from videoflix.adapters.security.revocations import GAP_PATIENCE, PolledRevokedSessions
from videoflix.domain.accounts.model import SessionRevocation

TTL = timedelta(minutes=30)


def process(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> PolledRevokedSessions:
    return PolledRevokedSessions(uow, clock, interval=0.01)


async def revoke(uow: FakeUnitOfWorkFactory, clock: FakeClock, *families: str) -> None:
    """What another process writes when it ends sessions."""
    async with uow() as tx:
        await tx.session_revocations.add(families, clock.now(), clock.now() + TTL)
        await tx.commit()


async def test_s27_a_poll_learns_what_other_processes_revoked() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    await revoke(uow, clock, "fam-a", "fam-b")

    assert not here.is_revoked("fam-a")
    assert await here.poll() == 2
    assert here.is_revoked("fam-a") and here.is_revoked("fam-b") and not here.is_revoked("fam-c")
    assert await here.poll() == 0  # nothing new: read by id, not again

    await revoke(uow, clock, "fam-c")
    assert await here.poll() == 1 and here.is_revoked("fam-c")


async def test_s27_the_revoking_process_knows_at_once_without_a_poll() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    here.add(["fam-a"], clock.now() + TTL)
    assert here.is_revoked("fam-a")


async def test_s27_entries_are_dropped_once_every_access_token_they_refuse_has_expired() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    await revoke(uow, clock, "early")
    clock.advance(minutes=10)
    await revoke(uow, clock, "later")
    await here.poll()
    here.add(["local"], clock.now() + TTL)

    clock.advance(minutes=20)  # "early" is 30 minutes old
    await here.poll()
    assert not here.is_revoked("early") and here.is_revoked("later") and here.is_revoked("local")
    assert len(here) == 2
    clock.advance(minutes=10)
    await here.poll()
    assert len(here) == 0


async def test_s27_a_revocation_renewed_later_keeps_its_later_expiry() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    here.add(["fam"], clock.now() + TTL)
    here.add(["fam"], clock.now() + TTL + timedelta(minutes=5))
    clock.advance(TTL)
    await here.poll()
    assert here.is_revoked("fam")


async def test_s27_a_new_process_loads_the_revocations_still_in_force_and_skips_expired_ones() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    await revoke(uow, clock, "old")
    clock.advance(TTL)
    await revoke(uow, clock, "recent")

    starting = process(uow, clock)
    assert await starting.poll() == 1
    assert starting.is_revoked("recent") and not starting.is_revoked("old")


async def test_s27_a_row_that_commits_after_a_newer_one_is_still_learned() -> None:
    """Ids are handed out at insert, not at commit: id 2 can be visible before id 1. The poller asks for skipped
    ids again until they appear."""
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    await revoke(uow, clock, "first")
    await here.poll()
    rows = uow.state.session_revocations
    # Ids 2 and 3 handed out; 3 commits first.
    for _ in range(2):
        uow.store.next_id("session_revocations")
    rows[3] = SessionRevocation(id=3, family_id="third", expires_at=clock.now() + TTL)
    assert await here.poll() == 1 and here.is_revoked("third")

    rows[2] = SessionRevocation(id=2, family_id="second", expires_at=clock.now() + TTL)
    clock.advance(seconds=1)
    assert await here.poll() == 1 and here.is_revoked("second")


async def test_s27_a_gap_that_never_fills_is_given_up_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rolled-back insert leaves its id unused forever: it is not asked for again and again."""
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    await revoke(uow, clock, "first")
    await here.poll()
    uow.store.next_id("session_revocations")  # id 2: rolled back
    await revoke(uow, clock, "third")
    await here.poll()

    asked: list[list[int]] = []
    original = FakeSessionRevocationLog.newer

    async def spy(self: FakeSessionRevocationLog, after_id: int, also: Collection[int], limit: int):  # type: ignore[no-untyped-def]
        asked.append(sorted(also))
        return await original(self, after_id, also, limit)

    monkeypatch.setattr(FakeSessionRevocationLog, "newer", spy)
    await here.poll()
    clock.advance(GAP_PATIENCE)
    await here.poll()
    assert asked == [[2], []]
    assert set(uow.state.session_revocations) == {1, 3}


async def test_s27_start_loads_then_polls_in_the_background_until_stop() -> None:
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    await revoke(uow, clock, "before-start")
    here = process(uow, clock)

    await here.start()
    try:
        assert here.is_revoked("before-start")  # loaded before start() returns
        await revoke(uow, clock, "while-running")
        for _ in range(500):
            if here.is_revoked("while-running"):
                break
            await asyncio.sleep(0.01)
        assert here.is_revoked("while-running")
    finally:
        await here.stop()
    await revoke(uow, clock, "after-stop")
    await asyncio.sleep(0.05)
    assert not here.is_revoked("after-stop")


async def test_s27_a_failing_database_does_not_stop_the_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    """R4: the database away for a while; the poller keeps trying and catches up when it is back."""
    clock, uow = FakeClock(), FakeUnitOfWorkFactory()
    here = process(uow, clock)
    failures = 3
    original = FakeSessionRevocationLog.newer

    async def flaky(self: FakeSessionRevocationLog, after_id: int, also: Collection[int], limit: int):  # type: ignore[no-untyped-def]
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("database away")
        return await original(self, after_id, also, limit)

    monkeypatch.setattr(FakeSessionRevocationLog, "newer", flaky)
    await here.start()  # the first load fails too: the process still starts
    try:
        await revoke(uow, clock, "fam")
        for _ in range(500):
            if here.is_revoked("fam"):
                break
            await asyncio.sleep(0.01)
        assert here.is_revoked("fam") and failures == 0
    finally:
        await here.stop()
