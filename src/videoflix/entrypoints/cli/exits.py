"""Exit codes of every ``videoflix`` command, so scripts can tell outcomes apart (listed in the README)."""

from __future__ import annotations

import click

OK = 0
FAILED = 1  # the work was tried and did not succeed (a transcode failed, a worker is unhealthy, ...)
USAGE = 2  # a wrong option or argument (click's own code) or an invalid setting
NOT_FOUND = 3  # the video, email or revision named does not exist


class NotFoundError(click.ClickException):
    """``Error: <message>`` on stderr and exit code 3."""

    exit_code = NOT_FOUND
