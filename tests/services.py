"""Access to the real Postgres and Redis of the machine. Missing in CI is a failure, locally a skip."""

from __future__ import annotations

import os
import socket

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{service} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI needs it (see .ci/run)", pytrace=False)
    pytest.skip(message)


def redis_host_port() -> tuple[str, int]:
    rest = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = rest.partition(":")
    return host, int(port or 6379)
