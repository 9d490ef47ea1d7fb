"""The password rules, as Django's four default validators apply them (S5, S28), plus a maximum length.

Every rule a password breaks is reported, each in Django's own words, so the person typing it knows what to change.
"""

from __future__ import annotations

import gzip
import re
from difflib import SequenceMatcher
from importlib import resources

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_SIMILARITY = 0.7  # Django's UserAttributeSimilarityValidator default

TOO_SHORT = f"This password is too short. It must contain at least {MIN_PASSWORD_LENGTH} characters."
TOO_LONG = f"This password is too long. It must contain at most {MAX_PASSWORD_LENGTH} characters."
TOO_SIMILAR = "The password is too similar to the email address."
TOO_COMMON = "This password is too common."
ENTIRELY_NUMERIC = "This password is entirely numeric."


def _load_common_passwords() -> frozenset[str]:
    # Django's list, lower-cased and deduplicated; see common-passwords.txt.gz.NOTICE for its origin and licence.
    data = resources.files("videoflix.domain.accounts").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip())


COMMON_PASSWORDS = _load_common_passwords()


def password_problems(password: str, email: str | None = None) -> list[str]:
    """What is wrong with ``password`` for the account ``email``: an empty list when nothing is.

    The length counts characters as typed: nothing is trimmed or truncated (S5)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return [TOO_LONG]  # nothing else is worth computing for it
    problems = []
    if email and _too_similar(password, email):
        problems.append(TOO_SIMILAR)
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(TOO_SHORT)
    if password.lower().strip() in COMMON_PASSWORDS:
        problems.append(TOO_COMMON)
    if password.isdigit():
        problems.append(ENTIRELY_NUMERIC)
    return problems


def _too_similar(password: str, email: str) -> bool:
    """Django's UserAttributeSimilarityValidator on the email: the whole address and each of its words; and, beyond
    Django, its local part and domain as wholes (``jane.doe`` is too close to ``jane.doe@example.com``)."""
    password = password.lower()
    value = email.lower()
    local, _, domain = value.partition("@")
    for part in [*re.split(r"\W+", value), local, domain, value]:
        if _too_long_to_be_similar(password, part):
            continue
        if SequenceMatcher(a=password, b=part).quick_ratio() >= MAX_SIMILARITY:
            return True
    return False


def _too_long_to_be_similar(password: str, value: str) -> bool:
    # Django's exceeds_maximum_length_ratio: a password ten times longer than the value can never reach the
    # maximum similarity, so the (quadratic) comparison is skipped.
    return len(password) >= 10 * len(value) and len(value) < MAX_SIMILARITY / 2 * len(password)
