"""Account use cases: register, activate, log in, refresh, log out, reset a password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from videoflix.domain.accounts.model import (
    GENERIC_INPUT_ERROR,
    AccountChange,
    DuplicateEmail,
    EmailKind,
    EmailMessage,
    EmailStatus,
    IssuedToken,
    OneTimeToken,
    OutboxEmail,
    RefreshTokenRecord,
    Resend,
    ResendOutcome,
    RotationOutcome,
    TokenPurpose,
    User,
    check_password_policy,
    decode_uid,
    encode_uid,
    hash_token,
    normalize_email,
)
from videoflix.domain.accounts.ports import (
    AccountsUnitOfWork,
    EmailRenderer,
    PasswordHasher,
    TokenCodec,
    UnitOfWorkFactory,
)
from videoflix.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from videoflix.domain.jobs import Job
from videoflix.domain.ports import Clock, JobQueue

LOGIN_FAILED = "Please check your input and try again."


@dataclass(frozen=True)
class AccountPolicy:
    frontend_url: str
    activation_ttl: timedelta = timedelta(hours=24)
    reset_ttl: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Registration:
    user: User
    activation_token: str


@dataclass(frozen=True)
class Session:
    """What a login or a refresh hands to the client."""

    user_id: int
    email: str
    access: IssuedToken
    refresh: IssuedToken


class AccountService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        emails: EmailRenderer,
        queue: JobQueue,
        clock: Clock,
        policy: AccountPolicy,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._emails = emails
        self._queue = queue
        self._clock = clock
        self._policy = policy

    async def register(self, email: str, password: str, confirmed_password: str) -> Registration:
        """Create an inactive user and queue its activation email, in one transaction."""
        email = normalize_email(email)
        if password != confirmed_password:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        check_password_policy(password, email)
        password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        token = secrets.token_urlsafe(32)
        async with self._uow() as uow:
            if await uow.users.get_by_email(email) is not None:
                raise DuplicateEmail(GENERIC_INPUT_ERROR)
            user = await uow.users.add(User(email=email, password_hash=password_hash, created_at=now))
            assert user.id is not None
            link = self._link("activate.html", user.id, token)
            outbox_id = await self._issue_one_time_token(
                uow, user.id, token, TokenPurpose.ACTIVATION, self._emails.activation(email, link)
            )
            await uow.commit()
        await self._ring_delivery(outbox_id)
        return Registration(user=user, activation_token=token)

    async def activate(self, uidb64: str, token: str) -> None:
        user_id = decode_uid(uidb64)
        if user_id is None:
            raise InvalidInput("Activation failed.")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.is_active:
                raise InvalidInput("Activation failed.")
            if not await self._consume(uow, user_id, token, TokenPurpose.ACTIVATION):
                raise InvalidInput("Activation failed.")
            await uow.users.activate(user_id)
            await uow.commit()

    async def login(self, email: str, password: str) -> Session:
        """Same error, in similar time, for an unknown email, a wrong password and an inactive account."""
        try:
            email = normalize_email(email)
        except InvalidInput:
            await self._hasher.verify_dummy(password)
            raise AuthenticationFailed(LOGIN_FAILED) from None
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None:
                await self._hasher.verify_dummy(password)
                raise AuthenticationFailed(LOGIN_FAILED)
            if not await self._hasher.verify(user.password_hash, password) or not user.is_active:
                raise AuthenticationFailed(LOGIN_FAILED)
            assert user.id is not None
            if self._hasher.needs_rehash(user.password_hash):
                await uow.users.set_password(user.id, await self._hasher.hash(password), user.password_changed_at)
            session = await self._start_session(uow, user, family_id=secrets.token_hex(16))
            await uow.commit()
        return session

    async def refresh(self, refresh_token: str) -> Session:
        """Rotate a refresh token. Replaying an already-rotated token revokes its whole family."""
        claims = self._tokens.decode_refresh(refresh_token)
        if claims.family_id is None:
            raise AuthenticationFailed("Invalid refresh token.")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.get(claims.user_id)
            if user is None or not user.is_active:
                raise AuthenticationFailed("Invalid refresh token.")
            new = self._tokens.issue_refresh(claims.user_id, claims.family_id, now)
            record = RefreshTokenRecord(
                jti=new.jti,
                user_id=claims.user_id,
                family_id=claims.family_id,
                issued_at=now,
                expires_at=new.expires_at,
            )
            outcome = await uow.refresh_tokens.rotate(claims.jti, record, now)
            if outcome is RotationOutcome.REUSED:
                await uow.refresh_tokens.revoke_family(claims.family_id, now)
                await uow.commit()
            if outcome is not RotationOutcome.ROTATED:
                raise AuthenticationFailed("Invalid refresh token.")
            await uow.commit()
        access = self._tokens.issue_access(claims.user_id, now)
        return Session(user_id=claims.user_id, email=user.email, access=access, refresh=new)

    async def logout(self, refresh_token: str) -> None:
        """Revoke the session the refresh token belongs to. An unreadable token has nothing to revoke."""
        try:
            claims = self._tokens.decode_refresh(refresh_token)
        except AuthenticationFailed:
            return
        if claims.family_id is None:
            return
        async with self._uow() as uow:
            await uow.refresh_tokens.revoke_family(claims.family_id, self._clock.now())
            await uow.commit()

    async def request_password_reset(self, email: str) -> None:
        """Queue a reset email if an active account has this address; the caller learns nothing either way."""
        email = normalize_email(email)
        token = secrets.token_urlsafe(32)
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None or user.id is None or not user.is_active:
                return
            link = self._link("confirm_password.html", user.id, token)
            outbox_id = await self._issue_one_time_token(
                uow, user.id, token, TokenPurpose.PASSWORD_RESET, self._emails.password_reset(email, link)
            )
            await uow.commit()
        await self._ring_delivery(outbox_id)

    async def confirm_password_reset(self, uidb64: str, token: str, new_password: str, confirm_password: str) -> None:
        """Set the new password, spend every reset token and end every session of the account."""
        if new_password != confirm_password:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        user_id = decode_uid(uidb64)
        if user_id is None:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise InvalidInput(GENERIC_INPUT_ERROR)
            check_password_policy(new_password, user.email)
            if not await self._consume(uow, user_id, token, TokenPurpose.PASSWORD_RESET):
                raise InvalidInput(GENERIC_INPUT_ERROR)
            now = self._clock.now()
            await uow.users.set_password(user_id, await self._hasher.hash(new_password), now)
            await uow.one_time_tokens.consume_all(user_id, TokenPurpose.PASSWORD_RESET, now)
            await uow.refresh_tokens.revoke_all_for_user(user_id, now)
            await uow.commit()

    async def create_admin(self, email: str, password: str) -> User:
        """Create an active staff account, or promote and re-password an existing one."""
        user, _ = await self.ensure_account(email, password, staff=True)
        return user

    async def ensure_account(self, email: str, password: str, *, staff: bool) -> tuple[User, AccountChange]:
        """An active account that logs in with ``password``, for operators (CLI): created, or re-activated and
        re-passworded. ``staff`` promotes it; a viewer never takes over a staff account."""
        email = normalize_email(email)
        check_password_policy(password, email)
        password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None:
                user = await uow.users.add(
                    User(email=email, password_hash=password_hash, created_at=now, is_active=True, is_staff=staff)
                )
                outcome = AccountChange.CREATED
            else:
                assert user.id is not None
                if user.is_staff and not staff:
                    raise Conflict(f"{email} is a staff account.")
                await uow.users.set_password(user.id, password_hash, now)
                await uow.users.activate(user.id)
                if staff:
                    await uow.users.set_staff(user.id, True)
                user.is_active, user.is_staff = True, user.is_staff or staff
                outcome = AccountChange.UPDATED
            await uow.commit()
        return user, outcome

    async def resend_email(self, outbox_id: int) -> Resend:
        """Send a failed email again (operators: ``videoflix emails retry``, the admin API).

        A failed email's bodies are gone when they held a one-time link, and that link is spent anyway: an
        activation email becomes a fresh activation link if the account is still inactive, a reset email a fresh
        reset link if the account is active, and any other email is sent again as it was. The old row is marked
        ``retried`` (or ``cancelled`` when the email is no longer needed) in the same transaction. Raises
        ``NotFound`` for an unknown id and ``Conflict`` for an email that has not failed."""
        async with self._uow() as uow:
            email = await uow.outbox.get(outbox_id)
            if email is None:
                raise NotFound("No such email.")
            if email.status is not EmailStatus.FAILED:
                raise Conflict(f"Email {outbox_id} is {email.status.value}: only failed emails are sent again.")
            if email.kind is EmailKind.UNKNOWN:
                raise Conflict(f"Email {outbox_id} was queued before emails recorded their kind: it cannot be rebuilt.")
            user = await uow.users.get(email.user_id) if email.user_id is not None else None
            new_id = await self._fresh_email(uow, email, user)
            if new_id is None:
                await uow.outbox.close_failed(outbox_id, EmailStatus.CANCELLED)
                await uow.commit()
                return Resend(ResendOutcome.CANCELLED, reason=self._not_needed(email.kind, user))
            if not await uow.outbox.close_failed(outbox_id, EmailStatus.RETRIED):
                raise Conflict(f"Email {outbox_id} was sent again meanwhile.")
            await uow.commit()
        await self._ring_delivery(new_id)
        return Resend(ResendOutcome.RESENT, new_outbox_id=new_id)

    async def _fresh_email(self, uow: AccountsUnitOfWork, email: OutboxEmail, user: User | None) -> int | None:
        """The outbox id of the email that replaces a failed one, or None when it is no longer needed."""
        if email.kind is EmailKind.OTHER:
            message = await uow.outbox.message(email.id)
            assert message is not None
            return await uow.outbox.add(message, self._clock.now(), EmailKind.OTHER, email.user_id)
        if user is None or user.id is None:
            return None
        purpose = TokenPurpose(email.kind.value)
        if (purpose is TokenPurpose.ACTIVATION) == user.is_active:  # activated meanwhile, or reset for an inactive one
            return None
        token = secrets.token_urlsafe(32)
        await uow.one_time_tokens.consume_all(user.id, purpose, self._clock.now())  # earlier links of the kind end
        if purpose is TokenPurpose.ACTIVATION:
            message = self._emails.activation(user.email, self._link("activate.html", user.id, token))
        else:
            message = self._emails.password_reset(user.email, self._link("confirm_password.html", user.id, token))
        return await self._issue_one_time_token(uow, user.id, token, purpose, message)

    @staticmethod
    def _not_needed(kind: EmailKind, user: User | None) -> str:
        if user is None:
            return "the account no longer exists"
        return "the account is active already" if kind is EmailKind.ACTIVATION else "the account is not active"

    async def get_user(self, user_id: int) -> User | None:
        async with self._uow() as uow:
            return await uow.users.get(user_id)

    async def _start_session(self, uow: AccountsUnitOfWork, user: User, family_id: str) -> Session:
        assert user.id is not None
        user_id, now = user.id, self._clock.now()
        refresh = self._tokens.issue_refresh(user_id, family_id, now)
        await uow.refresh_tokens.add(
            RefreshTokenRecord(
                jti=refresh.jti,
                user_id=user_id,
                family_id=family_id,
                issued_at=now,
                expires_at=refresh.expires_at,
            )
        )
        return Session(
            user_id=user_id, email=user.email, access=self._tokens.issue_access(user_id, now), refresh=refresh
        )

    async def _issue_one_time_token(
        self, uow: AccountsUnitOfWork, user_id: int, token: str, purpose: TokenPurpose, message: EmailMessage
    ) -> int:
        now = self._clock.now()
        ttl = self._policy.activation_ttl if purpose is TokenPurpose.ACTIVATION else self._policy.reset_ttl
        await uow.one_time_tokens.add(
            OneTimeToken(token_hash=hash_token(token), user_id=user_id, purpose=purpose, expires_at=now + ttl)
        )
        return await uow.outbox.add(message, now, kind=EmailKind(purpose.value), user_id=user_id)

    async def _consume(self, uow: AccountsUnitOfWork, user_id: int, token: str, purpose: TokenPurpose) -> bool:
        """Spend a one-time token if it belongs to this user and purpose, is unused and unexpired."""
        if not token or len(token) > 128:
            return False
        token_hash = hash_token(token)
        stored = await uow.one_time_tokens.get(token_hash)
        if stored is None or stored.user_id != user_id or stored.purpose is not purpose:
            return False
        return await uow.one_time_tokens.consume(token_hash, self._clock.now())

    def _link(self, page: str, user_id: int, token: str) -> str:
        return f"{self._policy.frontend_url}/pages/auth/{page}?uid={encode_uid(user_id)}&token={token}"

    async def _ring_delivery(self, outbox_id: int) -> None:
        # After commit: the row exists before any worker looks for it. A lost ring is picked up by the sweep.
        await self._queue.enqueue(Job.DELIVER_EMAIL, key=f"email:{outbox_id}", outbox_id=outbox_id)
