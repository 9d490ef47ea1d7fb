"""`videoflix users deactivate|activate|sign-out|delete EMAIL` through the real executable, on the embedded default.
The sessions they end are recorded for every server (S27)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.test_cli_settings import base_env, run
from videoflix.bootstrap import bootstrap
from videoflix.domain.errors import AuthenticationFailed
from videoflix.settings import Settings, prepare_data_dir

EMAIL = "jane@example.com"
PASSWORD = "tangerine-rocket-harbour-42"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = base_env(tmp_path / "data", SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256-0123456789")
    code, _, err = run(["users", "create-admin", "--email", EMAIL, "--password-stdin"], env, tmp_path, PASSWORD + "\n")
    assert code == 0, err
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return prepare_data_dir(Settings.from_env(env))


async def session_count_and_login(env: dict[str, str], logins: int = 0) -> tuple[list[str], bool]:
    """Log in ``logins`` times; then the families of the recorded revocations and whether a login works."""
    container = await bootstrap(settings_of(env), run_periodic_sweeps=False)
    try:
        for _ in range(logins):
            await container.accounts.login(EMAIL, PASSWORD)
        async with container.uow() as uow:
            families = [row.family_id for row in await uow.session_revocations.newer(0, [], 100)]
        try:
            await container.accounts.login(EMAIL, PASSWORD)
            works = True
        except AuthenticationFailed:
            works = False
        return families, works
    finally:
        await container.close()


def test_s27_deactivate_ends_the_sessions_and_activate_lets_the_account_in_again(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(session_count_and_login(env, logins=2))  # the helper's own login makes a third

    code, out, err = run(["users", "deactivate", "JANE@example.com"], env, tmp_path)
    assert code == 0, err
    assert out == f"deactivated {EMAIL}; its sessions have ended\n"
    families, works = asyncio.run(session_count_and_login(env))
    assert len(families) == 3 and not works

    code, out, _ = run(["users", "activate", EMAIL], env, tmp_path)
    assert (code, out) == (0, f"activated {EMAIL}\n")
    assert asyncio.run(session_count_and_login(env))[1]


def test_s27_sign_out_counts_the_sessions_it_ended(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(session_count_and_login(env, logins=3))  # the helper's own login makes a fourth

    code, out, err = run(["users", "sign-out", EMAIL], env, tmp_path)
    assert code == 0, err
    assert out == f"signed {EMAIL} out everywhere: 4 sessions ended\n"
    families, works = asyncio.run(session_count_and_login(env))
    assert len(families) == 4 and works  # the account itself still works


def test_delete_asks_first_unless_told_yes(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(["users", "delete", EMAIL], env, tmp_path, stdin="n\n")
    assert code == 1 and "Aborted" in err
    assert asyncio.run(session_count_and_login(env))[1]  # kept

    code, out, err = run(["users", "delete", EMAIL], env, tmp_path, stdin="y\n")
    assert code == 0, err
    assert out.endswith(f"deleted {EMAIL}\n")
    assert not asyncio.run(session_count_and_login(env))[1]

    code, _, err = run(["users", "delete", EMAIL, "--yes"], env, tmp_path)
    assert code == 3 and err.strip() == f"Error: no account with the email {EMAIL}"  # not found


def test_an_unknown_or_malformed_email_exits_3_not_found(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for command, email in (("deactivate", "nobody@example.com"), ("sign-out", "x,jane@example.com")):
        code, out, err = run(["users", command, email], env, tmp_path)
        assert (code, out) == (3, "")
        assert err.strip() == f"Error: no account with the email {email}"
