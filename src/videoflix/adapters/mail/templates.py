"""The activation and password-reset emails, rendered from packaged ``string.Template`` files."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from videoflix.domain.accounts.model import EmailMessage

ACTIVATION_SUBJECT = "Confirm your email"
PASSWORD_RESET_SUBJECT = "Reset your password"


@cache
def _template(name: str) -> Template:
    text = resources.files("videoflix.adapters.mail").joinpath("templates", name).read_text("utf-8")
    return Template(text)


def _hours(count: int) -> str:
    return "1 hour" if count == 1 else f"{count} hours"


class TemplateEmailRenderer:
    """``EmailRenderer`` producing a plain-text and an HTML part (inline styles, no external resources).

    Every value is HTML-escaped before it reaches the HTML part: the recipient and the operator details come
    from user input and configuration, and must never be able to inject markup.
    """

    def __init__(
        self,
        operator_name: str,
        operator_address: str,
        sender_name: str = "Videoflix",
        *,
        activation_hours: int = 24,
        reset_hours: int = 1,
    ) -> None:
        self._operator_name = operator_name
        self._operator_address = operator_address
        self._sender_name = sender_name
        self._activation_hours = activation_hours
        self._reset_hours = reset_hours

    def activation(self, to: str, link: str) -> EmailMessage:
        return self._render("activation", ACTIVATION_SUBJECT, to, link, self._activation_hours)

    def password_reset(self, to: str, link: str) -> EmailMessage:
        return self._render("password_reset", PASSWORD_RESET_SUBJECT, to, link, self._reset_hours)

    def _render(self, name: str, subject: str, to: str, link: str, hours: int) -> EmailMessage:
        values = {
            "to": to,
            "link": link,
            "hours": _hours(hours),
            "sender_name": self._sender_name,
            "operator_name": self._operator_name,
            "operator_address": self._operator_address,
        }
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        # A multi-line postal address keeps its lines in the HTML footer too.
        escaped["operator_address"] = "<br>".join(escaped["operator_address"].splitlines())
        return EmailMessage(
            to=to,
            subject=subject,
            text=_template(f"{name}.txt").substitute(values),
            html=_template(f"{name}.html").substitute(escaped),
        )
