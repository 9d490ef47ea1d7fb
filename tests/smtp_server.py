"""A real SMTP server for tests: aiosmtpd in its own thread, collecting what it receives.

Usable from sync and async tests alike (the server runs its own event loop)::

    with SmtpSink() as sink:
        ...send to 127.0.0.1:sink.port...
        [message] = sink.wait_for(1)

``fail_next(451)`` / ``fail_next(550, n=2, stage="rcpt")`` make it refuse the next messages; ``stop()`` then
``start()`` takes it down and brings it back on the same port ("SMTP down, then back"); ``stop_failing()`` ends a
``fail_next(451, n=huge)`` outage early; ``delay = seconds`` makes it a slow server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["rcpt", "data"]

_DEFAULT_TEXT = {4: "4.3.0 Try again later (test sink)", 5: "5.7.1 Message rejected (test sink)"}


@dataclass
class _Failure:
    code: int
    stage: Stage
    text: str
    remaining: int


@dataclass(frozen=True)
class Received:
    """One accepted message with what the envelope and the session said about it."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    encrypted: bool
    login: str | None
    at: float = field(default_factory=time.monotonic)  # when it was accepted (time.monotonic), for delays


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SmtpSink:
    """An SMTP server on ``host:port`` that keeps every accepted message in ``messages``.

    ``credentials`` ({user: password}) enables AUTH PLAIN/LOGIN (allowed without TLS, for tests);
    ``starttls_context`` offers STARTTLS; ``ssl_context`` makes it an implicit-TLS server (port-465 style).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        credentials: dict[str, str] | None = None,
        starttls_context: ssl.SSLContext | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._credentials = credentials
        self._starttls_context = starttls_context
        self._ssl_context = ssl_context
        self._controller: Controller | None = None
        self._cond = threading.Condition()
        self._failures: deque[_Failure] = deque()
        self.received: list[Received] = []
        self.delay = 0.0  # seconds every message waits before its answer at the end of DATA (a slow server)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> SmtpSink:
        """Listen on ``port`` (the same one after a ``stop()``). Returns self."""
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ready_timeout": 5.0}
        if self._credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self._starttls_context is not None:
            kwargs["tls_context"] = self._starttls_context
        # A fresh Controller each time: a stopped one has closed its event loop and cannot be restarted.
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ssl_context=self._ssl_context, **kwargs
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused until ``start()``. Received messages are kept."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- behaviour -------------------------------------------------------------------------------------------

    def fail_next(self, code: int, n: int = 1, *, stage: Stage = "data", text: str | None = None) -> None:
        """Answer ``code`` (e.g. 451 or 550) to the next ``n`` messages, at RCPT TO or at the end of DATA."""
        if not 400 <= code < 600:
            raise ValueError("only 4xx and 5xx answers make a message fail")
        with self._cond:
            self._failures.append(_Failure(code, stage, text or _DEFAULT_TEXT[code // 100], n))

    def stop_failing(self) -> None:
        """Drop the pending ``fail_next`` refusals (an outage that ends); received messages are kept."""
        with self._cond:
            self._failures.clear()

    def clear(self) -> None:
        """Forget received messages and pending failures."""
        with self._cond:
            self.received.clear()
            self._failures.clear()

    # -- inspection ------------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[EmailMessage]:
        with self._cond:
            return [item.message for item in self.received]

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived; returns them all. Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {count} message(s), got {len(self.received)}")
                self._cond.wait(left)
            return [item.message for item in self.received]

    async def wait_for_async(self, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        """``wait_for`` without blocking the test's event loop (the app under test may be the sender)."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    # -- called from the server thread ---------------------------------------------------------------------

    def _take_failure(self, stage: Stage) -> str | None:
        with self._cond:
            if not self._failures or self._failures[0].stage != stage:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            return f"{failure.code} {failure.text}"

    def _record(self, item: Received) -> None:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = self._credentials.get(user) == auth_data.password.decode("utf-8", "replace")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _Handler:
    """aiosmtpd hooks; refusals come from the sink's failure queue."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self._sink._take_failure("rcpt")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._sink.delay:
            await asyncio.sleep(self._sink.delay)
        refusal = self._sink._take_failure("data")
        if refusal:
            return refusal
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        transport = server.transport
        encrypted = session.ssl is not None or (
            transport is not None and transport.get_extra_info("sslcontext") is not None
        )
        login = session.login_data.decode("utf-8", "replace") if session.login_data else None
        self._sink._record(Received(message, envelope.mail_from or "", list(envelope.rcpt_tos), encrypted, login))
        return "250 Message accepted for delivery"
