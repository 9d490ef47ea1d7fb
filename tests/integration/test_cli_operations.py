"""The operator commands of the real ``videoflix`` executable on the embedded default: a failed activation email
seen with ``emails list`` and sent again with ``emails retry`` (a fresh link that works), ``users list``, the
``db`` commands, ``--version`` and ``python -m videoflix``, and exit codes scripts can tell apart."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesParser
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fakes import FakeMailer
from tests.integration.test_cli_media import Cli, cli  # noqa: F401 - the fixture
from videoflix.adapters.db.migrate import MIGRATIONS
from videoflix.bootstrap import Container, bootstrap

PASSWORD = "tangerine-rocket-harbour-42"


@pytest.fixture
async def refused(cli: Cli) -> AsyncIterator[Container]:  # noqa: F811
    """A container on the CLI's database whose SMTP server refuses every mailbox for good."""
    await cli.run("db", "upgrade")
    mailer = FakeMailer()
    mailer.fail_next(10, "550 5.1.1 mailbox unavailable", permanent=True)
    container = await bootstrap(make_settings(cli.data_dir), mailer=mailer, run_periodic_sweeps=False)
    yield container
    await container.close()


async def register(container: Container, email: str) -> None:
    await container.accounts.register(email, PASSWORD, PASSWORD)
    await container.queue.drain(10)  # type: ignore[attr-defined]


async def test_a_failed_activation_email_is_listed_and_sent_again_from_the_cli(cli: Cli, refused: Container) -> None:  # noqa: F811
    await register(refused, "lost@example.com")
    listed = await cli.run("emails", "list", "--status", "failed")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    email_id, status, attempts, _, kind, recipient, _subject, error = line.split("\t")
    assert (status, attempts, kind, recipient, error) == (
        "failed",
        "1",
        "activation",
        "lost@example.com",
        "550 5.1.1 mailbox unavailable",
    )

    retried = await cli.run("emails", "retry", email_id)

    assert retried.returncode == 0, retried.stderr
    new_id = re.search(rf"email {email_id}: sent again as email (\d+)", retried.stdout)
    assert new_id, retried.stdout
    # The embedded default writes emails to the outbox folder: the new one carries a fresh activation link.
    [eml] = cli.data_dir.glob(f"outbox/outbox-{new_id[1]}.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"uid=([\w-]+)&token=([\w-]+)", text)
    assert link
    await refused.accounts.activate(link[1], link[2])
    assert (await refused.accounts.get_user(1)).is_active  # type: ignore[union-attr]
    statuses = await cli.run("emails", "list")
    assert f"{email_id}\tretried" in statuses.stdout and f"{new_id[1]}\tsent" in statuses.stdout


async def test_retry_all_failed_cancels_what_is_no_longer_needed(cli: Cli, refused: Container) -> None:  # noqa: F811
    await register(refused, "a@example.com")
    await register(refused, "b@example.com")
    await refused.accounts.create_admin("b@example.com", PASSWORD)  # activated by hand meanwhile
    result = await cli.run("emails", "retry", "--all-failed")
    assert result.returncode == 0, result.stderr
    assert "email 1: sent again as email 3" in result.stdout
    assert "email 2: cancelled, the account is active already" in result.stdout
    assert (await cli.run("emails", "list", "--status", "failed")).stdout == ""


async def test_exit_codes_tell_not_found_usage_and_failure_apart(cli: Cli, refused: Container) -> None:  # noqa: F811
    await register(refused, "a@example.com")
    unknown = await cli.run("emails", "retry", "99")
    assert (unknown.returncode, unknown.stderr.strip()) == (3, "Error: There is no email with id 99.")
    usage = await cli.run("emails", "retry")
    assert usage.returncode == 2 and "Give one EMAIL_ID or --all-failed" in usage.stderr
    assert (await cli.run("emails", "retry", "1")).returncode == 0
    again = await cli.run("emails", "retry", "1")  # retried already: not failed any more
    assert again.returncode == 1 and "only failed emails" in again.stderr
    assert (await cli.run("no-such-command")).returncode == 2


async def test_users_list_and_the_db_commands(cli: Cli, refused: Container) -> None:  # noqa: F811
    await register(refused, "viewer@example.com")
    await refused.accounts.create_admin("staff@example.com", PASSWORD)
    users = await cli.run("users", "list")
    assert [line.split("\t")[:3] for line in users.stdout.splitlines()] == [
        ["1", "viewer@example.com", "inactive"],
        ["2", "staff@example.com", "active, staff"],
    ]
    newest = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    current = await cli.run("db", "current")
    assert current.stdout.strip() == f"{newest} (head)"
    history = await cli.run("db", "history")
    assert re.match(rf"^[0-9]{{4}} -> {newest} \(head\), ", history.stdout.splitlines()[0])


def test_the_version_and_python_dash_m() -> None:
    for command in (["videoflix", "--version"], [sys.executable, "-m", "videoflix", "--version"]):
        executable = str(Path(sys.executable).parent / "videoflix") if command[0] == "videoflix" else command[0]
        done = subprocess.run([executable, *command[1:]], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"videoflix, version {version('videoflix')}"


def test_the_readme_lists_real_commands_and_the_exit_codes_they_use() -> None:
    import click

    from videoflix.entrypoints.cli import exits
    from videoflix.entrypoints.cli.main import cli as group

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The worker and the CLI", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in (line for line in section.splitlines() if line.startswith("| `videoflix")):
        for snippet in re.findall(r"`(videoflix [^`]*)`", row.split("|")[1]):
            words = [word for word in snippet.split()[1:] if re.fullmatch(r"[a-z][a-z-]*", word)]
            command: click.Command = group
            for word in words:
                assert isinstance(command, click.Group), snippet
                found = command.get_command(click.Context(command), word)
                assert found is not None, f"README names `{snippet}`, which is no command"
                command = found
                if not isinstance(command, click.Group):
                    break
            listed.add(command.name)
    assert {"worker-health", "retry", "list", "current", "history", "revision", "regenerate"} <= listed
    codes = dict(re.findall(r"^\| (\d) \| ([^|]+) \|$", section, re.MULTILINE))
    assert {int(code) for code in codes} == {exits.OK, exits.FAILED, exits.USAGE, exits.NOT_FOUND}
    assert "not found" in codes[str(exits.NOT_FOUND)] and "usage" in codes[str(exits.USAGE)]
