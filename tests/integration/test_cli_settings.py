"""Configuration errors through the real ``videoflix`` executable and the Granian app factory: one line on stderr,
exit code 2, no traceback; the refusal to run without SECRET_KEY where nodes would sign with different keys; the
embedded default on a fresh data folder (S29: private files, a migrated database before `users create-admin`)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nginx import free_port
from videoflix.entrypoints.http.asgi import create_asgi_app

VIDEOFLIX = Path(sys.executable).parent / "videoflix"
ONE_LINE = "videoflix: configuration error: EMAIL_PORT: expected an integer, got 'abc'\n"


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of the developer's (no .env, no DB_HOST, no SECRET_KEY), the data folder given."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
    env.update(VIDEOFLIX_ENV_FILE="/nonexistent/.env", VIDEOFLIX_DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "", timeout: float = 60) -> tuple[int, str, str]:
    """Run `videoflix ARGS`; a process still running after ``timeout`` is killed with its Granian workers."""
    process = subprocess.Popen(
        [str(VIDEOFLIX), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"`videoflix {' '.join(args)}` still ran after {timeout} s: {err[-2000:]}")
    return process.returncode, out, err


COMMANDS = [
    ["serve", "--port", "0"],
    ["worker", "--burst"],
    ["db", "upgrade"],
    ["db", "downgrade", "base"],
    ["users", "create-admin", "--email", "admin@example.com", "--password-stdin"],
    ["users", "deactivate", "someone@example.com"],
    ["users", "activate", "someone@example.com"],
    ["users", "sign-out", "someone@example.com"],
    ["users", "delete", "someone@example.com"],
    ["hls", "regenerate"],
    ["videos", "import", "pyproject.toml", "--title", "T", "--category", "C"],
    ["demo", "--videos", "0"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_an_invalid_setting_is_one_line_and_exit_code_2_for_every_command(tmp_path, args):
    env = base_env(tmp_path / "data", EMAIL_PORT="abc")
    repo = Path(__file__).resolve().parents[2]
    code, out, err = run(args, env, cwd=repo, stdin="long-enough-password\n")
    assert (code, err, out) == (2, ONE_LINE, "")
    assert not (tmp_path / "data").exists()  # nothing was written before the check


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG: expected a boolean (true/false, yes/no, on/off, 1/0), got 'maybe'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: expected console or json, got 'xml'"),
        (
            "LOG_LEVEL",
            "chatty",
            "LOG_LEVEL: expected a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL), got 'chatty'",
        ),
        ("LOGIN_RATE_LIMIT", "0", "LOGIN_RATE_LIMIT: expected a positive integer, got '0'"),
    ],
)
def test_other_invalid_values_stop_serve_with_their_line(tmp_path, name, value, message):
    code, _, err = run(["serve", "--port", "0"], base_env(tmp_path / "data", **{name: value}), cwd=tmp_path)
    assert (code, err) == (2, f"videoflix: configuration error: {message}\n")


@pytest.mark.parametrize(
    "shared",
    [{"DB_HOST": "127.0.0.1", "DB_PORT": "5432", "DB_USER": "postgres"}, {"REDIS_URL": "redis://127.0.0.1:6379/3"}],
    ids=["DB_HOST", "REDIS_URL"],
)
def test_s29_serve_and_worker_refuse_to_start_without_secret_key_when_shared(tmp_path, shared):
    """DEBUG off and no SECRET_KEY on a shared database or job queue: every node would sign with its own key."""
    env = base_env(tmp_path / "data", DEBUG="false", **shared)
    for args in (["serve", "--port", str(free_port()), "--no-migrate"], ["worker", "--burst"]):
        code, _, err = run(args, env, cwd=tmp_path, timeout=30)
        assert code == 2, err
        assert err.startswith("videoflix: configuration error: SECRET_KEY: required when DEBUG is off")
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # no key was generated


def test_s29_weak_secret_key_stops_the_cli(tmp_path):
    env = base_env(tmp_path / "data", SECRET_KEY="changeme" * 4)
    code, _, err = run(["db", "upgrade"], env, cwd=tmp_path)
    assert code == 2
    assert err.startswith("videoflix: configuration error: SECRET_KEY: too predictable")
    assert "changeme" not in err and err.count("\n") == 1


def test_the_granian_app_factory_exits_2_with_the_one_line(tmp_path, monkeypatch, capsys):
    for name, value in base_env(tmp_path / "data", EMAIL_PORT="abc").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        create_asgi_app()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ONE_LINE


def test_s29_the_granian_app_factory_refuses_a_shared_setup_without_secret_key(tmp_path, monkeypatch, capsys):
    for name, value in base_env(tmp_path / "data", DB_HOST="127.0.0.1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        create_asgi_app()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("videoflix: configuration error: SECRET_KEY: required")


def test_s29_create_admin_on_a_fresh_data_folder_migrates_and_keeps_files_private(tmp_path):
    """The embedded default with nothing configured: the database is migrated first (as `serve` does), and the
    data folder (0700), the SQLite database and the generated key (0600) are private to the account."""
    data_dir = tmp_path / "data"
    env = base_env(data_dir)
    args = ["users", "create-admin", "--email", "Admin@Example.com", "--password-stdin"]
    code, out, err = run(args, env, cwd=tmp_path, stdin="a-long-admin-password\n")
    assert code == 0, err
    assert out == "staff account ready: admin@example.com\n"
    assert "Traceback" not in err
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (data_dir, *data_dir.iterdir())}
    assert modes["data"] == 0o700
    assert modes["secret_key"] == 0o600
    assert modes["videoflix.sqlite3"] == 0o600
    assert all(mode & 0o077 == 0 for name, mode in modes.items() if name != "media"), modes
    key = (data_dir / "secret_key").read_text()
    code, out, err = run(args, env, cwd=tmp_path, stdin="another-admin-password\n")  # again: the same account
    assert (code, out) == (0, "staff account ready: admin@example.com\n"), err
    assert (data_dir / "secret_key").read_text() == key
