"""Database tables (SQLAlchemy 2 declarative, on advanced-alchemy's bases and types)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.base import BigIntBase, DefaultBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship


class UserModel(BigIntBase):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    last_login: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class OneTimeTokenModel(DefaultBase):
    __tablename__ = "one_time_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class RefreshTokenModel(DefaultBase):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class SessionRevocationModel(BigIntBase):
    """Sessions ended before their time, read by every server process (S27). No foreign key: the revocation of a
    deleted user's sessions must outlive the user."""

    __tablename__ = "session_revocations"
    # sqlite_autoincrement: SQLite would hand the id of a purged row to the next one, and pollers read by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    family_id: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class OutboxEmailModel(BigIntBase):
    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_status_available_at", "status", "available_at"),)

    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Pending: when the next attempt may start (a lease or a backoff pushes it into the future).
    available_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # What the email is and for whom, so a failed one can be sent again with a fresh link (NULL: older rows).
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CategoryModel(BigIntBase):
    __tablename__ = "categories"

    name: Mapped[str] = mapped_column(String(100), unique=True)


class VideoModel(BigIntBase):
    __tablename__ = "videos"
    # sqlite_autoincrement: SQLite would hand a deleted video's id to the next one, whose URLs browsers cached.
    __table_args__ = (
        Index("ix_videos_published_created_at", "published", "created_at"),
        {"sqlite_autoincrement": True},
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("categories.id"), index=True)
    category: Mapped[CategoryModel] = relationship(lazy="raise")
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    source_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    thumbnail: Mapped[str | None] = mapped_column(String(255), nullable=True)
    custom_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)


class UploadModel(DefaultBase):
    """A resumable (tus) upload: its bytes are in the media store's part file, its state here."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JsonB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    # The one request allowed to write right now, until when (a conditional UPDATE takes it).
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    video_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # set once the file became a video


metadata = BigIntBase.metadata
