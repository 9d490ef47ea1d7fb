"""Account use cases: register, activate, log in, refresh, log out, reset a password; and for staff and operators:
find, deactivate, activate, promote, sign out and delete accounts.

A session is a refresh-token family. Ending one (logout, a password reset, deactivation, deletion, "sign out
everywhere", a replayed refresh token) revokes its refresh tokens and records the revocation in the same
transaction, so that every server process refuses its access tokens too, within a second (S27).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

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
    PasswordRefused,
    RefreshTokenRecord,
    Resend,
    ResendOutcome,
    ResetRequestOutcome,
    RotationOutcome,
    TokenPurpose,
    User,
    UserPage,
    decode_uid,
    encode_uid,
    hash_token,
)
from videoflix.domain.accounts.passwords import password_problems
from videoflix.domain.accounts.ports import (
    AccountsUnitOfWork,
    EmailRenderer,
    MailboxValidator,
    PasswordHasher,
    RevokedSessions,
    TokenCodec,
    UnitOfWorkFactory,
)
from videoflix.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from videoflix.domain.jobs import Job
from videoflix.domain.ports import Clock, JobQueue

LOGIN_FAILED = "Please check your input and try again."
NO_SUCH_USER = "No such user."
ACTIVE_ALREADY = "The account is active already: it needs no activation email."
MAX_ADDRESS_LENGTH = 320  # longer input is refused before anyone parses it
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class AccountPolicy:
    frontend_url: str
    activation_ttl: timedelta = timedelta(hours=24)
    reset_ttl: timedelta = timedelta(hours=1)
    access_ttl: timedelta = timedelta(minutes=30)  # how long a revoked session's access tokens could still live
    reset_emails_per_hour: int = 3  # per account (S28)


@dataclass(frozen=True)
class Registration:
    user: User
    receipt: str  # the register answer's "token": opaque and random, it activates nothing (S26)


@dataclass(frozen=True)
class Session:
    """What a login or a refresh hands to the client. ``family_id`` names the session."""

    user_id: int
    email: str
    family_id: str
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
        *,
        mailboxes: MailboxValidator,
        revoked: RevokedSessions,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._emails = emails
        self._queue = queue
        self._clock = clock
        self._policy = policy
        self._mailboxes = mailboxes
        self._revoked = revoked

    # ------------------------------------------------------------------------------------------ the contract

    async def register(self, email: str, password: str, confirmed_password: str) -> Registration:
        """Create an inactive user and queue its activation email, in one transaction."""
        email = self._mailbox(email)
        if password != confirmed_password:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        # Judged before the address is looked up: the answer to a weak password never depends on whether the
        # address is taken (S6).
        self._check_password(password, email, field="password")
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
        # The activation token itself only travels in the email: whoever registers an address they do not own
        # must not be able to activate it (S26).
        return Registration(user=user, receipt=secrets.token_urlsafe(32))

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
            await uow.users.set_active(user_id, True)
            await uow.commit()

    async def login(self, email: str, password: str) -> Session:
        """Same error, in similar time, for an unknown email, a wrong password and an inactive account."""
        try:
            email = self._mailbox(email)
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
            # Checked again under the row lock: a deactivation, deletion or password reset that committed while
            # the password was being verified must not be followed by a session it never saw (S27).
            locked = await uow.users.lock(user.id)
            if locked is None or not locked.is_active or locked.password_changed_at != user.password_changed_at:
                raise AuthenticationFailed(LOGIN_FAILED)
            await uow.users.record_login(user.id, self._clock.now())
            session = await self._start_session(uow, user, family_id=secrets.token_hex(16))
            await uow.commit()
        return session

    async def refresh(self, refresh_token: str) -> Session:
        """Rotate a refresh token. Replaying an already-rotated token revokes its whole family."""
        claims = self._tokens.decode_refresh(refresh_token)
        family_id = claims.family_id
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.lock(claims.user_id, shared=True)
            if user is None or not user.is_active:
                raise AuthenticationFailed("Invalid refresh token.")
            new = self._tokens.issue_refresh(claims.user_id, family_id, now)
            record = RefreshTokenRecord(
                jti=new.jti,
                user_id=claims.user_id,
                family_id=family_id,
                issued_at=now,
                expires_at=new.expires_at,
            )
            outcome = await uow.refresh_tokens.rotate(claims.jti, record, now)
            if outcome is RotationOutcome.REUSED:
                # A stolen token, or a stolen session: end the session, access tokens included.
                ended = [family_id] if await uow.refresh_tokens.revoke_family(family_id, now) else []
                await self._record_ended(uow, ended, now)
                await uow.commit()
                self._remember_ended(ended, now)
            if outcome is not RotationOutcome.ROTATED:
                raise AuthenticationFailed("Invalid refresh token.")
            await uow.commit()
        access = self._tokens.issue_access(claims.user_id, family_id, now)
        return Session(user_id=claims.user_id, email=user.email, family_id=family_id, access=access, refresh=new)

    async def logout(self, refresh_token: str, access_token: str | None = None) -> None:
        """End the session the refresh token belongs to (or, when that one is unreadable, the access token's),
        its access tokens included. An unreadable token has nothing to end."""
        families: set[str] = set()
        for token, decode in ((refresh_token, self._tokens.decode_refresh), (access_token, self._tokens.decode_access)):
            if token:
                try:
                    families.add(decode(token).family_id)
                except AuthenticationFailed:
                    continue
        if not families:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            ended = [family for family in sorted(families) if await uow.refresh_tokens.revoke_family(family, now)]
            await self._record_ended(uow, ended, now)
            await uow.commit()
        self._remember_ended(ended, now)

    async def request_password_reset(self, email: str) -> ResetRequestOutcome:
        """Queue a reset email if an active account has this address, no unused link is out and the hourly cap is
        not reached (S28). The caller learns nothing either way."""
        email = self._mailbox(email)
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None or user.id is None or not user.is_active:
                return ResetRequestOutcome.NO_ACCOUNT
            await uow.users.lock(user.id)  # two requests at once must not both pass the checks below
            now = self._clock.now()
            purpose = TokenPurpose.PASSWORD_RESET
            if await uow.one_time_tokens.has_pending(user.id, purpose, now):
                return ResetRequestOutcome.LINK_PENDING
            issued = await uow.one_time_tokens.count_issued_since(user.id, purpose, now - timedelta(hours=1))
            if issued >= self._policy.reset_emails_per_hour:
                return ResetRequestOutcome.HOURLY_CAP
            token = secrets.token_urlsafe(32)
            link = self._link("confirm_password.html", user.id, token)
            outbox_id = await self._issue_one_time_token(
                uow, user.id, token, purpose, self._emails.password_reset(email, link)
            )
            await uow.commit()
        await self._ring_delivery(outbox_id)
        return ResetRequestOutcome.QUEUED

    async def confirm_password_reset(self, uidb64: str, token: str, new_password: str, confirm_password: str) -> None:
        """Set the new password, spend every reset token and end every session of the account."""
        if new_password != confirm_password:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        user_id = decode_uid(uidb64)
        if user_id is None:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        async with self._uow() as uow:
            user = await uow.users.lock(user_id)
            if user is None or not await self._usable(uow, user_id, token, TokenPurpose.PASSWORD_RESET):
                raise InvalidInput(GENERIC_INPUT_ERROR)
            # Only with a valid link: the similarity rule would otherwise tell anyone with a uid about its email.
            self._check_password(new_password, user.email, field="new_password")
            if not await self._consume(uow, user_id, token, TokenPurpose.PASSWORD_RESET):
                raise InvalidInput(GENERIC_INPUT_ERROR)
            now = self._clock.now()
            await uow.users.set_password(user_id, await self._hasher.hash(new_password), now)
            await uow.one_time_tokens.consume_all(user_id, TokenPurpose.PASSWORD_RESET, now)
            ended = await self._end_all_sessions(uow, user_id, now)
            await uow.commit()
        self._remember_ended(ended, now)

    # ------------------------------------------------------------------------------------------ operators, staff

    async def create_admin(self, email: str, password: str) -> User:
        """Create an active staff account, or promote and re-password an existing one."""
        user, _ = await self.ensure_account(email, password, staff=True)
        return user

    async def ensure_account(self, email: str, password: str, *, staff: bool) -> tuple[User, AccountChange]:
        """An active account that logs in with ``password``, for operators (CLI): created, or re-activated and
        re-passworded. ``staff`` promotes it; a viewer never takes over a staff account."""
        email = self._mailbox(email)
        self._check_password(password, email, field="password")
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
                await uow.users.set_active(user.id, True)
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
        return await self._fresh_link(uow, user, purpose)

    async def resend_activation(self, user_id: int) -> int:
        """A fresh activation email for an inactive account, whatever became of the earlier ones (staff, from the
        Studio): earlier activation links stop working, and failed activation emails of the account count as sent
        again. The new email's outbox id. ``NotFound`` for an unknown account, ``Conflict`` for an active one."""
        async with self._uow() as uow:
            user = await self._locked(uow, user_id)
            if user.is_active:
                raise Conflict(ACTIVE_ALREADY)
            outbox_id = await self._fresh_link(uow, user, TokenPurpose.ACTIVATION)
            await uow.outbox.supersede_failed(user_id, EmailKind.ACTIVATION)
            await uow.commit()
        await self._ring_delivery(outbox_id)
        return outbox_id

    async def _fresh_link(self, uow: AccountsUnitOfWork, user: User, purpose: TokenPurpose) -> int:
        """Queue an email with a new one-time link of ``purpose``; earlier links of that purpose end."""
        assert user.id is not None
        token = secrets.token_urlsafe(32)
        await uow.one_time_tokens.consume_all(user.id, purpose, self._clock.now())
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

    async def find_user(self, email: str) -> User | None:
        """The account with this address (normalized as at login), or None."""
        try:
            email = self._mailbox(email)
        except InvalidInput:
            return None
        async with self._uow() as uow:
            return await uow.users.get_by_email(email)

    async def list_users(self, query: str | None = None, page: int = 1, page_size: int = 50) -> UserPage:
        """Accounts whose email contains ``query`` (case-insensitive), oldest first, one page of them."""
        page, page_size = max(page, 1), min(max(page_size, 1), MAX_PAGE_SIZE)
        fragment = (query or "").strip().lower() or None
        async with self._uow() as uow:
            users, total = await uow.users.search(fragment, (page - 1) * page_size, page_size)
        return UserPage(users=users, total=total, page=page, page_size=page_size)

    async def deactivate_user(self, user_id: int, *, actor_id: int | None = None) -> User:
        """The account can no longer log in, and every session it has ends now (S27)."""
        if user_id == actor_id:
            raise Conflict("You cannot deactivate your own account.")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._locked(uow, user_id)
            await uow.users.set_active(user_id, False)
            ended = await self._end_all_sessions(uow, user_id, now)
            await uow.commit()
        self._remember_ended(ended, now)
        return replace(user, is_active=False)

    async def activate_user(self, user_id: int) -> User:
        """Let the account log in again (or for the first time, without the emailed link)."""
        async with self._uow() as uow:
            user = await self._locked(uow, user_id)
            await uow.users.set_active(user_id, True)
            await uow.commit()
        return replace(user, is_active=True)

    async def set_staff(self, user_id: int, is_staff: bool, *, actor_id: int | None = None) -> User:
        """Promote or demote. Staff rights are checked against the database on every admin request, so a demotion
        holds at once."""
        if user_id == actor_id and not is_staff:
            raise Conflict("You cannot take staff rights from your own account.")
        async with self._uow() as uow:
            user = await self._locked(uow, user_id)
            await uow.users.set_staff(user_id, is_staff)
            await uow.commit()
        return replace(user, is_staff=is_staff)

    async def end_sessions(self, user_id: int) -> int:
        """Sign the account out everywhere: every session ends now, access tokens included (S27). How many."""
        now = self._clock.now()
        async with self._uow() as uow:
            await self._locked(uow, user_id)
            ended = await self._end_all_sessions(uow, user_id, now)
            await uow.commit()
        self._remember_ended(ended, now)
        return len(ended)

    async def delete_user(self, user_id: int, *, actor_id: int | None = None) -> None:
        """Remove the account and its tokens; its sessions end now (S27)."""
        if user_id == actor_id:
            raise Conflict("You cannot delete your own account.")
        now = self._clock.now()
        async with self._uow() as uow:
            await self._locked(uow, user_id)
            # Recorded before the delete: the user's refresh tokens, which name its sessions, go with it.
            ended = await self._end_all_sessions(uow, user_id, now)
            await uow.users.delete(user_id)
            await uow.commit()
        self._remember_ended(ended, now)

    async def forget_expired_revocations(self) -> int:
        """Drop revocations whose access tokens have all expired (for the periodic sweep)."""
        async with self._uow() as uow:
            removed = await uow.session_revocations.delete_expired(self._clock.now())
            await uow.commit()
        return removed

    # ------------------------------------------------------------------------------------------ helpers

    def _mailbox(self, raw: str) -> str:
        """One mailbox, lower-cased (addresses are unique regardless of case), or the generic 400 (S28)."""
        normalized = self._mailboxes.normalize(raw.strip()) if len(raw) <= MAX_ADDRESS_LENGTH else None
        if normalized is None:
            raise InvalidInput(GENERIC_INPUT_ERROR)
        return normalized.lower()

    @staticmethod
    def _check_password(password: str, email: str, *, field: str) -> None:
        problems = password_problems(password, email)
        if problems:
            raise PasswordRefused(field, problems)

    async def _locked(self, uow: AccountsUnitOfWork, user_id: int) -> User:
        user = await uow.users.lock(user_id)
        if user is None:
            raise NotFound(NO_SUCH_USER)
        return user

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
        access = self._tokens.issue_access(user_id, family_id, now)
        return Session(user_id=user_id, email=user.email, family_id=family_id, access=access, refresh=refresh)

    async def _end_all_sessions(self, uow: AccountsUnitOfWork, user_id: int, now: datetime) -> list[str]:
        ended = sorted(await uow.refresh_tokens.revoke_all_for_user(user_id, now))
        await self._record_ended(uow, ended, now)
        return ended

    async def _record_ended(self, uow: AccountsUnitOfWork, families: Collection[str], now: datetime) -> None:
        """In the transaction that ends the sessions: every process learns of them from this row (S27)."""
        if families:
            await uow.session_revocations.add(families, now, now + self._policy.access_ttl)

    def _remember_ended(self, families: Collection[str], now: datetime) -> None:
        """After the commit: this process refuses the sessions' access tokens at once, without waiting to poll."""
        if families:
            self._revoked.add(families, now + self._policy.access_ttl)

    async def _issue_one_time_token(
        self, uow: AccountsUnitOfWork, user_id: int, token: str, purpose: TokenPurpose, message: EmailMessage
    ) -> int:
        now = self._clock.now()
        ttl = self._policy.activation_ttl if purpose is TokenPurpose.ACTIVATION else self._policy.reset_ttl
        await uow.one_time_tokens.add(
            OneTimeToken(
                token_hash=hash_token(token), user_id=user_id, purpose=purpose, created_at=now, expires_at=now + ttl
            )
        )
        return await uow.outbox.add(message, now, kind=EmailKind(purpose.value), user_id=user_id)

    async def _usable(self, uow: AccountsUnitOfWork, user_id: int, token: str, purpose: TokenPurpose) -> bool:
        """Whether the one-time token belongs to this user and purpose and is unused and unexpired (not spent)."""
        if not token or len(token) > 128:
            return False
        stored = await uow.one_time_tokens.get(hash_token(token))
        return (
            stored is not None
            and stored.user_id == user_id
            and stored.purpose is purpose
            and stored.used_at is None
            and stored.expires_at > self._clock.now()
        )

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
