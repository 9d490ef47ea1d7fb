"""The ids that tie log lines together: the request being answered and the background job being run.

They are context variables, so every coroutine (and every task it starts) sees the ids of its own request or job.
The HTTP edge sets the request id, the job queues carry it into the jobs a request rings and set the job id, and
the logging setup (entrypoints/logs.py) adds both to every line. Plain standard library: the domain's own log lines
get them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("videoflix_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("videoflix_job_id", default=None)


@contextmanager
def job_context(job: str, request: str | None = None) -> Iterator[None]:
    """Inside: log lines carry ``job`` as their job id and ``request`` (the request that rang the job, when known)
    as their request id."""
    job_token = job_id.set(job)
    request_token = request_id.set(request) if request is not None else None
    try:
        yield
    finally:
        job_id.reset(job_token)
        if request_token is not None:
            request_id.reset(request_token)
