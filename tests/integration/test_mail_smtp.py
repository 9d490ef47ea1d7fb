"""SmtpMailer against a real SMTP server (aiosmtpd): delivery, TLS, login and how failures are classified."""

from __future__ import annotations

import html
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_server import SmtpSink, free_port
from videoflix.adapters.mail.smtp import SmtpMailer
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.accounts.ports import DeliveryError

FROM = "Videoflix <noreply@videoflix.local>"
LINK = "http://127.0.0.1:5500/pages/auth/activate.html?uid=MTI&token=" + "a1B2-c3_D4" * 8
MESSAGE = EmailMessage(
    to="user@example.com",
    subject="Confirm your email",
    text=f"Welcome!\n\nConfirm here:\n{LINK}\n",
    html=f'<p>Welcome!</p><p><a href="{html.escape(LINK)}">Activate</a></p>',
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def make_mailer(port: int, **overrides: object) -> SmtpMailer:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "",
        "password": "",
        "use_tls": False,
        "use_ssl": False,
        "from_address": FROM,
        "timeout": 5,
    }
    options.update(overrides)
    return SmtpMailer(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI (no extra Python dependency)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_delivers_a_multipart_message_with_the_link_in_both_parts(sink: SmtpSink) -> None:
    await make_mailer(sink.port).send(MESSAGE, message_id="outbox-12")

    [message] = await sink.wait_for_async(1)
    assert message["From"] == FROM
    assert message["To"] == "user@example.com"
    assert message["Subject"] == "Confirm your email"
    assert message["Message-ID"] == "<outbox-12@videoflix.local>"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert LINK in plain.get_content()
    assert html.escape(LINK) in rich.get_content()
    [received] = sink.received
    assert received.mail_from == "noreply@videoflix.local"  # the bare address, not "Name <addr>"
    assert received.rcpt_tos == ["user@example.com"]
    assert not received.encrypted and received.login is None


async def test_message_id_is_the_same_when_a_delivery_is_retried(sink: SmtpSink) -> None:
    mailer = make_mailer(sink.port)
    await mailer.send(MESSAGE, message_id="outbox-7")
    await mailer.send(MESSAGE, message_id="outbox-7")
    await mailer.send(MESSAGE, message_id="outbox-8")

    ids = [message["Message-ID"] for message in await sink.wait_for_async(3)]
    assert ids == ["<outbox-7@videoflix.local>", "<outbox-7@videoflix.local>", "<outbox-8@videoflix.local>"]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_a_4xx_answer_is_a_transient_error(sink: SmtpSink, stage: str) -> None:
    sink.fail_next(451, n=2, stage=stage)  # type: ignore[arg-type]
    mailer = make_mailer(sink.port)

    for _ in range(2):
        with pytest.raises(DeliveryError) as caught:
            await mailer.send(MESSAGE, message_id="outbox-1")
        assert caught.value.permanent is False
        assert "451" in caught.value.reason

    await mailer.send(MESSAGE, message_id="outbox-1")  # the server accepts again: the retry delivers
    assert len(await sink.wait_for_async(1)) == 1


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_a_5xx_answer_is_a_permanent_error(sink: SmtpSink, stage: str) -> None:
    sink.fail_next(550, stage=stage)  # type: ignore[arg-type]

    with pytest.raises(DeliveryError) as caught:
        await make_mailer(sink.port).send(MESSAGE, message_id="outbox-1")

    assert caught.value.permanent is True
    assert "550" in caught.value.reason
    assert sink.messages == []


async def test_smtp_down_is_transient_and_the_same_port_works_again_when_it_is_back(sink: SmtpSink) -> None:
    mailer = make_mailer(sink.port)
    sink.stop()

    with pytest.raises(DeliveryError) as caught:
        await mailer.send(MESSAGE, message_id="outbox-3")
    assert caught.value.permanent is False
    assert "connect" in caught.value.reason

    sink.start()
    await mailer.send(MESSAGE, message_id="outbox-3")
    [message] = await sink.wait_for_async(1)
    assert message["Message-ID"] == "<outbox-3@videoflix.local>"


async def test_a_server_that_never_answers_is_a_transient_timeout() -> None:
    # The kernel completes the TCP handshake for a listening socket, but nobody ever sends the SMTP greeting.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mailer = make_mailer(silent.getsockname()[1], timeout=0.3)

        with pytest.raises(DeliveryError) as caught:
            await mailer.send(MESSAGE, message_id="outbox-4")

    assert caught.value.permanent is False
    assert "timeout" in caught.value.reason.lower() or "timed out" in caught.value.reason.lower()


async def test_starttls_required_but_not_offered_fails_instead_of_sending_in_plaintext(
    sink: SmtpSink,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await make_mailer(sink.port, use_tls=True).send(MESSAGE, message_id="outbox-5")

    assert "STARTTLS" in caught.value.reason
    assert caught.value.permanent is False  # fixable by the operator; the email stays queued
    assert sink.messages == []


async def test_starttls_upgrades_the_session_and_then_logs_in(certificate: tuple[Path, Path]) -> None:
    # Real-world port 587: plaintext greeting, STARTTLS, then AUTH over the encrypted session.
    with SmtpSink(starttls_context=server_context(certificate), credentials={"mailer": "s3cret"}) as sink:
        mailer = make_mailer(
            sink.port,
            use_tls=True,
            username="mailer",
            password="s3cret",
            tls_context=client_context(certificate),
        )
        await mailer.send(MESSAGE, message_id="outbox-6")
        await sink.wait_for_async(1)

    [received] = sink.received
    assert received.encrypted and received.login == "mailer"


@pytest.mark.parametrize("use_tls", [False, True])
async def test_use_ssl_connects_with_implicit_tls(certificate: tuple[Path, Path], use_tls: bool) -> None:
    # use_tls=True as well (the settings default) must not break an implicit-TLS setup.
    with SmtpSink(ssl_context=server_context(certificate)) as sink:
        mailer = make_mailer(sink.port, use_ssl=True, use_tls=use_tls, tls_context=client_context(certificate))
        await mailer.send(MESSAGE, message_id="outbox-9")
        await sink.wait_for_async(1)

    assert sink.received[0].encrypted


async def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(starttls_context=server_context(certificate)) as sink:
        mailer = make_mailer(sink.port, use_tls=True)  # no tls_context: the system trust store decides
        with pytest.raises(DeliveryError) as caught:
            await mailer.send(MESSAGE, message_id="outbox-10")
        assert sink.messages == []
    assert caught.value.permanent is False


async def test_login_with_username_and_password() -> None:
    with SmtpSink(credentials={"mailer": "s3cret"}) as sink:
        await make_mailer(sink.port, username="mailer", password="s3cret").send(MESSAGE, message_id="outbox-11")
        await sink.wait_for_async(1)
    assert sink.received[0].login == "mailer"


async def test_a_wrong_password_is_permanent_and_never_shown() -> None:
    password = "wrong-horse-battery"
    with SmtpSink(credentials={"mailer": "s3cret"}) as sink:
        with pytest.raises(DeliveryError) as caught:
            await make_mailer(sink.port, username="mailer", password=password).send(MESSAGE, message_id="x")
        assert sink.messages == []

    assert caught.value.permanent is True
    assert "535" in caught.value.reason
    assert password not in caught.value.reason and password not in str(caught.value)


async def test_no_login_without_a_username() -> None:
    with SmtpSink(credentials={"mailer": "s3cret"}) as sink:
        await make_mailer(sink.port, password="ignored").send(MESSAGE, message_id="outbox-13")
        await sink.wait_for_async(1)
    assert sink.received[0].login is None


async def test_an_internationalised_recipient_is_delivered(sink: SmtpSink) -> None:
    message = EmailMessage(to="jörg@example.com", subject="Hi", text=LINK, html="<p>hi</p>")
    await make_mailer(sink.port).send(message, message_id="outbox-14")
    await sink.wait_for_async(1)
    assert sink.received[0].rcpt_tos == ["jörg@example.com"]
    assert sink.received[0].message["To"] == "jörg@example.com"


def test_the_sink_works_from_sync_code_and_refuses_when_stopped() -> None:
    port = free_port()
    sink = SmtpSink(port=port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with sink, socket.create_connection(("127.0.0.1", port), timeout=1) as client:
        assert client.recv(100).startswith(b"220 ")
    with pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.05)
