"""Errors the domain raises; the HTTP layer maps each kind to one status code and a generic JSON body."""

import errno


class DomainError(Exception):
    """Base of every error a domain service raises on purpose."""

    message = "Please check your input and try again."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class InvalidInput(DomainError):
    """The request was understood but its content is not acceptable (400). ``field`` names the input at fault,
    when there is one, so a form can show the message next to it."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthenticationFailed(DomainError):
    """Credentials or a token were wrong, expired or revoked (401)."""

    message = "Invalid credentials."


class PermissionDenied(DomainError):
    """The caller is known but may not do this (403)."""

    message = "You do not have permission to perform this action."


class NotFound(DomainError):
    """The thing asked for does not exist, or is not visible to the caller (404)."""

    message = "Not found."


class Conflict(DomainError):
    """The request clashes with the current state (409)."""

    message = "The request conflicts with the current state."


class Unavailable(DomainError):
    """Something the request needs (the database) cannot be reached right now: try again soon (503)."""

    message = "The service is temporarily unavailable. Please try again later."


# errno values that say "no room left" (a full volume, a user's disk quota), whoever wrote the bytes.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageFull(Unavailable):
    """The media storage has no room left. Nothing was wrong with the request: it can be sent again once an
    operator made room (503 with Retry-After, like any ``Unavailable``; a resumable upload keeps what it stored)."""

    message = "The media storage is full right now. Please try again later."

    @staticmethod
    def caused(error: BaseException) -> bool:
        """Whether ``error`` is a write that found no room left."""
        return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS
