"""S28: the email-address adapter (email-validator) lets exactly one RFC 5321 mailbox through."""

from __future__ import annotations

import pytest

from videoflix.adapters.security.mailboxes import StrictMailboxValidator

validator = StrictMailboxValidator()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("user@example.com", "user@example.com"),
        ("User@Example.COM", "User@example.com"),  # the domain is lower-cased; the service lower-cases the rest
        ("jane+films@mail.example.org", "jane+films@mail.example.org"),
        ("a.b-c_d@sub-domain.example.de", "a.b-c_d@sub-domain.example.de"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("jane@BÜCHER.de", "jane@xn--bcher-kva.de"),  # IDNA
        ("x@straße.de", "x@xn--strae-oqa.de"),  # IDNA 2008: not strasse.de, a different domain
        ("jane@xn--bcher-kva.de", "jane@xn--bcher-kva.de"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
        ("demo@videoflix.example", "demo@videoflix.example"),
    ],
)
def test_s28_a_single_mailbox_passes_with_its_domain_normalized(raw: str, expected: str) -> None:
    assert validator.normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        # what reached the To: header in the attack
        "x,victim@example.com",
        "grp:victim@example.com",
        "a<b>@example.com",
        "grp:victim@example.com;",
        "Jane <jane@example.com>",
        "jane@example.com, victim@example.com",
        # quoted local parts, comments, domain literals
        '"jane doe"@example.com',
        '"x,victim"@example.com',
        "jane(comment)@example.com",
        "jane@example.com (comment)",
        "jane@[127.0.0.1]",
        "jane@[IPv6:::1]",
        # no real domain
        "user@localhost",
        "user@example",
        "user@example.123",
        "user@sub_domain.example.com",
        "user@-example.com",
        "user@example-.com",
        "user@example..com",
        "user@example.com.",
        "user@host.local",
        "user@host.test",
        "user@host.invalid",
        # plainly malformed
        "",
        "plainaddress",
        "@example.com",
        "user@",
        "user@@example.com",
        "us er@example.com",
        "user@exa mple.com",
        "user\x00@example.com",
        "user\n@example.com",
        "user@example.com\r\nBcc: victim@example.com",
        ".user@example.com",
        "user.@example.com",
        "us..er@example.com",
        "üser@example.com",  # a non-ASCII local part needs SMTPUTF8
        "a" * 65 + "@example.com",  # local part over 64
        "a@" + ("b" * 60 + ".") * 5 + "com",  # over 254 in total
    ],
)
def test_s28_anything_but_one_mailbox_is_refused(raw: str) -> None:
    assert validator.normalize(raw) is None
