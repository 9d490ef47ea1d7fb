"""Services handed to handlers by Litestar's dependency injection, from the container bootstrap built.

A handler names what it needs (``accounts: AccountService``); it never reaches into the app state itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Dependency

from videoflix.bootstrap import Container
from videoflix.domain.accounts.delivery import EmailDelivery
from videoflix.domain.accounts.model import User
from videoflix.domain.accounts.service import AccountService
from videoflix.domain.catalog.service import CatalogService
from videoflix.domain.media.ports import MediaStore
from videoflix.domain.media.service import MediaService
from videoflix.domain.media.uploads import UploadService
from videoflix.domain.operations.service import OperationsService
from videoflix.domain.ports import Clock
from videoflix.settings import Settings

# Ports are Protocols, which Litestar cannot check with isinstance: handlers take them without validation.
ClockPort = Annotated[Clock, Dependency(skip_validation=True)]
MediaStorePort = Annotated[MediaStore, Dependency(skip_validation=True)]
ContainerDep = Annotated[Container, Dependency(skip_validation=True)]


def container(state: State) -> Container:
    return state.container  # type: ignore[no-any-return]


def _accounts(state: State) -> AccountService:
    return container(state).accounts


def _media(state: State) -> MediaService:
    return container(state).media


def _uploads(state: State) -> UploadService:
    return container(state).uploads


def _store(state: State) -> MediaStore:
    return container(state).store


def _catalog(state: State) -> CatalogService:
    return container(state).catalog


def _operations(state: State) -> OperationsService:
    return container(state).operations


def _email_delivery(state: State) -> EmailDelivery:
    return container(state).email_delivery


def _settings(state: State) -> Settings:
    return container(state).settings


def _clock(state: State) -> Clock:
    return container(state).clock


def _public_base(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The configured public URL, or the scheme and host this request came to (for absolute thumbnail URLs)."""
    if settings.public_base_url:
        return settings.public_base_url
    return f"{request.url.scheme}://{request.url.netloc}"


def _staff_user(request: Request[Any, Any, Any]) -> User:
    """The account the ``staff`` guard let in (every admin route has that guard)."""
    return request.state.staff  # type: ignore[no-any-return]


DEPENDENCIES = {
    "process": Provide(container, sync_to_thread=False),  # the whole container, for the few handlers that need it
    "accounts": Provide(_accounts, sync_to_thread=False),
    "media": Provide(_media, sync_to_thread=False),
    "catalog": Provide(_catalog, sync_to_thread=False),
    "settings": Provide(_settings, sync_to_thread=False),
    "clock": Provide(_clock, sync_to_thread=False),
    "public_base": Provide(_public_base, sync_to_thread=False),
    "staff_user": Provide(_staff_user, sync_to_thread=False),
    "store": Provide(_store, sync_to_thread=False),
    "operations": Provide(_operations, sync_to_thread=False),
    "email_delivery": Provide(_email_delivery, sync_to_thread=False),
    "uploads": Provide(_uploads, sync_to_thread=False),
}
