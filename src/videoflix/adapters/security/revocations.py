"""The ended sessions every server process refuses (S27): a set in memory, learned from the database by polling.

Access tokens are verified without the database, so ending a session must reach every process some other way. The
process that ends one adds it here at once; every other process reads the ``session_revocations`` table twice a
second (``WHERE id > last_seen``) and adds what it finds. A request then costs one set lookup.

Ids are handed out when a row is inserted, not when its transaction commits, so a row with a smaller id can become
visible after a larger one: ids skipped over are asked for again until they appear, or for ``GAP_PATIENCE`` (a
rolled-back insert leaves a gap forever). Entries are dropped once every access token they could refuse has
expired.

With ``export_to`` the set is also written to a file (one session per line, replaced atomically whenever it
changes): nginx reads it to refuse ended sessions at the edge, where no Python runs (docs/edge.md). Only a started
poller writes it: a process that does not poll (the CLI, the worker) knows only what it ended itself, and writing
that would drop every other ended session from the edge. Every poller writes the same content, so several processes
sharing the file agree within a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import tempfile
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from videoflix.domain.accounts.ports import UnitOfWorkFactory
from videoflix.domain.ports import Clock

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BATCH = 1000
GAP_PATIENCE = timedelta(seconds=60)  # far longer than the transactions that write revocations
MAX_GAPS = 100  # of the ids skipped in one jump, the highest ones asked for again (more writers in flight: implausible)


class PolledRevokedSessions:
    """``RevokedSessions`` for one process: ``start()`` loads what is revoked and polls until ``stop()``."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, *, interval: float = POLL_SECONDS, export_to: Path | None = None
    ) -> None:
        self._uow = uow
        self._export_to = export_to
        self._clock = clock
        self._interval = interval
        self._revoked: dict[str, datetime] = {}  # family id -> when its last access token expires
        self._expiries: list[tuple[datetime, str]] = []  # a heap: the order entries can be dropped in
        self._last_id = 0
        self._gaps: dict[int, datetime] = {}  # id skipped over -> when it was first missed
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._complete = False  # loaded from the database: only then may the edge's file be written

    def is_revoked(self, family_id: str) -> bool:
        return family_id in self._revoked

    def add(self, family_ids: Collection[str], expires_at: datetime) -> None:
        added = self._add(family_ids, expires_at)
        if added:
            self._export()

    def _add(self, family_ids: Collection[str], expires_at: datetime) -> int:
        added = 0
        for family in family_ids:
            current = self._revoked.get(family)
            if current is None or expires_at > current:
                added += current is None
                self._revoked[family] = expires_at
                heapq.heappush(self._expiries, (expires_at, family))
        return added

    def __len__(self) -> int:
        return len(self._revoked)

    async def poll(self) -> int:
        """Read the revocations written since the last poll; how many were new and still in force."""
        now = self._clock.now()
        self._gaps = {gap: seen for gap, seen in self._gaps.items() if now - seen < GAP_PATIENCE}
        learned = 0
        while True:
            async with self._uow() as uow:
                rows = await uow.session_revocations.newer(self._last_id, list(self._gaps), BATCH)
            for row in rows:
                self._gaps.pop(row.id, None)
                if row.id > self._last_id:
                    # Below the first row a new process sees, most missing ids are purged rows; the few highest
                    # may be commits still in flight, as anywhere else.
                    for missing in range(max(self._last_id + 1, row.id - MAX_GAPS), row.id):
                        self._gaps.setdefault(missing, now)
                    self._last_id = row.id
                if row.expires_at > now:  # older ones refuse nothing: their access tokens have expired
                    learned += self._add([row.family_id], row.expires_at)
            if len(rows) < BATCH:
                break
        if self._forget_expired(now) or learned:
            self._export()
        return learned

    async def start(self) -> None:
        """Load the revocations in force (and write the edge's file, even empty: nginx refuses every stream while
        it is missing), then poll in the background."""
        await self._poll_logged()
        self._complete = True
        self._export()
        self._task = asyncio.create_task(self._run(), name="videoflix-session-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._poll_logged()

    async def _poll_logged(self) -> None:
        try:
            await self.poll()
        except Exception:
            # The database is away (R4): keep the set as it is and try again; log once per outage.
            if not self._failing:
                log.warning("cannot read session revocations; retrying", exc_info=True)
            self._failing = True
        else:
            if self._failing:
                log.info("reading session revocations again")
            self._failing = False

    def _forget_expired(self, now: datetime) -> int:
        forgotten = 0
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, family = heapq.heappop(self._expiries)
            if self._revoked.get(family) == expires_at:
                del self._revoked[family]
                forgotten += 1
        return forgotten

    def _export(self) -> None:
        """Replace the edge's file atomically: nginx never reads half of it. A failure is logged, not raised (the
        edge then keeps the last file, and refuses everything if there is none)."""
        if self._export_to is None or not self._complete:
            return
        body = "\n" + "".join(f"{family}\n" for family in sorted(self._revoked))
        temporary = None
        try:
            self._export_to.parent.mkdir(parents=True, exist_ok=True)
            # A name no other writer uses (processes on other hosts or in other containers may share the folder).
            descriptor, temporary = tempfile.mkstemp(prefix=f".{self._export_to.name}.", dir=self._export_to.parent)
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(body)
            os.chmod(temporary, 0o644)  # nginx runs as another user
            os.replace(temporary, self._export_to)
        except OSError:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            log.warning("cannot write the edge's list of ended sessions to %s", self._export_to, exc_info=True)
