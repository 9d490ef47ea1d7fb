"""Send emails over SMTP (aiosmtplib), mapping every failure to a retryable or a permanent error."""

from __future__ import annotations

import ssl

import aiosmtplib

from videoflix.adapters.mail.mime import build_mime, envelope_sender
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.accounts.ports import DeliveryError

_MAX_REASON = 200


class SmtpMailer:
    """``Mailer`` over SMTP, configured like Django's EMAIL_* settings.

    ``use_ssl`` connects with implicit TLS (port 465). ``use_tls`` requires STARTTLS: a server that does not
    offer it is an error, never a silent plaintext send. With neither, the session stays plaintext (a local
    relay). When both are set, implicit TLS wins: the connection is encrypted from the first byte either way.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        use_tls: bool,
        use_ssl: bool,
        from_address: str,
        timeout: float = 20,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username or None
        self._password = password
        self._use_ssl = use_ssl
        # aiosmtplib: start_tls=None upgrades only "if supported", so a stripped STARTTLS would silently
        # downgrade; True fails when the server does not offer it; False never upgrades.
        self._start_tls = use_tls and not use_ssl
        self._from_address = from_address
        self._sender = envelope_sender(from_address)
        self._timeout = timeout
        self._tls_context = tls_context  # None: the system trust store, hostname checked

    async def send(self, message: EmailMessage, message_id: str) -> None:
        """Deliver one message; raises ``DeliveryError`` (``permanent`` for 5xx answers)."""
        try:
            mime = build_mime(message, message_id, self._from_address)
            await aiosmtplib.send(
                mime,
                sender=self._sender,
                recipients=[message.to],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password if self._username else None,
                use_tls=self._use_ssl,
                start_tls=self._start_tls,
                tls_context=self._tls_context,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise self._delivery_error(error) from None

    def _delivery_error(self, error: Exception) -> DeliveryError:
        reason, permanent = classify(error)
        if self._password:  # belt and braces: a server echoing credentials must not put them in the outbox
            reason = reason.replace(self._password, "***")
        return DeliveryError(reason[:_MAX_REASON], permanent=permanent)


def classify(error: Exception) -> tuple[str, bool]:
    """A short reason and whether retrying is pointless: 5xx answers are permanent, everything else is not."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        first = error.recipients[0] if error.recipients else None
        detail = f"{first.code} {_oneline(first.message)}" if first else "no detail"
        return f"recipient refused: {detail}", bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{_stage(error)}: {error.code} {_oneline(error.message)}", error.code >= 500
    if isinstance(error, aiosmtplib.SMTPTimeoutError):
        return f"SMTP timeout: {_oneline(error.message)}", False
    if isinstance(error, aiosmtplib.SMTPConnectError):
        return f"cannot connect: {_oneline(error.message)}", False
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return f"connection lost: {_oneline(error.message)}", False
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        # e.g. an internationalised address and a server without SMTPUTF8: no retry will change that.
        return f"not supported by the server: {_oneline(error.message)}", True
    # STARTTLS or AUTH not offered: a configuration problem (or someone stripping STARTTLS) that an operator
    # can fix; retrying with backoff keeps the email instead of dropping it.
    if isinstance(error, aiosmtplib.SMTPException) and "starttls" in error.message.lower():
        return "STARTTLS required (EMAIL_USE_TLS) but not offered by the server", False
    if isinstance(error, aiosmtplib.SMTPException):
        return f"SMTP error: {_oneline(error.message)}", False
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {_oneline(str(error))}", False
    if isinstance(error, OSError):
        return f"network error: {_oneline(str(error))}", False
    return f"invalid message: {_oneline(str(error))}", True


def _stage(error: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return "sender refused"
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return "recipient refused"
    if isinstance(error, aiosmtplib.SMTPDataError):
        return "message not accepted"
    if isinstance(error, aiosmtplib.SMTPConnectResponseError):
        return "server not ready"
    return "SMTP error"


def _oneline(text: str) -> str:
    return " ".join(text.split())
