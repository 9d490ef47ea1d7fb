"""Email addresses as single RFC 5321 mailboxes (S28), checked by ``email-validator``.

An address ends up in a ``To:`` header. ``x,victim@example.com``, ``grp:victim@example.com`` or
``a<b>@example.com`` would name other recipients there, so only a dot-atom local part at a real domain passes: no
quoted local part, no display name, group, list, comment or domain literal. The domain is lower-cased and
IDNA-encoded (IDNA 2008 with UTS-46 mapping, which the standard library's IDNA 2003 codec does not do: it would
map ``straße.de`` to the different domain ``strasse.de``). Non-ASCII local parts need SMTPUTF8 and are refused.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class StrictMailboxValidator:
    """``MailboxValidator`` on email-validator's syntax checks (no DNS lookups: the activation email proves the
    address works)."""

    def normalize(self, address: str) -> str | None:
        try:
            valid = validate_email(
                address,
                allow_smtputf8=False,
                allow_empty_local=False,
                allow_quoted_local=False,
                allow_domain_literal=False,
                allow_display_name=False,
                strict=True,  # also the RFC 5321 limit of 64 octets on the local part
                check_deliverability=False,
                globally_deliverable=True,  # a dot in the domain and a real top-level domain; no special-use names
                test_environment=False,
            )
        except EmailNotValidError:
            return None
        return f"{valid.local_part}@{valid.ascii_domain}"
