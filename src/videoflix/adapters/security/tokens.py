"""JWT access and refresh tokens (PyJWT, HS256 pinned, every claim required).

Both kinds carry their session, the refresh-token family, in ``fam``: ending a session refuses its access tokens too
(S27)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta

import jwt

from videoflix.domain.accounts.model import IssuedToken, TokenClaims
from videoflix.domain.errors import AuthenticationFailed

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "type", "fam"]
MAX_FAMILY_LENGTH = 64  # the refresh_tokens.family_id column
VERIFIED_CACHE_SIZE = 10_000


class JwtTokenCodec:
    def __init__(self, secret_key: str, access_ttl: timedelta, refresh_ttl: timedelta, issuer: str = "videoflix"):
        self._key = secret_key
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._issuer = issuer
        self._verified: dict[str, TokenClaims] = {}

    def issue_access(self, user_id: int, family_id: str, now: datetime) -> IssuedToken:
        return self._issue(user_id, ACCESS, now, self._access_ttl, family_id)

    def issue_refresh(self, user_id: int, family_id: str, now: datetime) -> IssuedToken:
        return self._issue(user_id, REFRESH, now, self._refresh_ttl, family_id)

    def decode_access(self, token: str) -> TokenClaims:
        """Verified once per process: every playlist and segment request of a viewer carries the same token,
        and a signature check costs more than the rest of the streaming path. Expiry is checked on every hit."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token, ACCESS)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        if claims.expires_at.timestamp() <= time.time():
            del self._verified[token]
            raise AuthenticationFailed("Invalid token.")
        return claims

    def decode_refresh(self, token: str) -> TokenClaims:
        return self._decode(token, REFRESH)

    def _issue(self, user_id: int, kind: str, now: datetime, ttl: timedelta, family_id: str) -> IssuedToken:
        jti = secrets.token_hex(16)
        expires_at = now + ttl
        payload = {
            "sub": str(user_id),
            "jti": jti,
            "type": kind,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "iss": self._issuer,
            "fam": family_id,
        }
        return IssuedToken(token=jwt.encode(payload, self._key, algorithm=ALGORITHM), jti=jti, expires_at=expires_at)

    def _decode(self, token: str, expected_type: str) -> TokenClaims:
        if not token or len(token) > 4096:
            raise AuthenticationFailed("Invalid token.")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # pinned: "none" and algorithm confusion are refused
                issuer=self._issuer,
                options={"require": [*REQUIRED_CLAIMS, "iss"]},
            )
        except jwt.PyJWTError as error:
            raise AuthenticationFailed("Invalid token.") from error
        if payload.get("type") != expected_type:
            raise AuthenticationFailed("Invalid token.")
        sub = payload.get("sub")
        # ASCII digits only ("²".isdigit() is True but int() refuses it), and small enough for a BIGINT id.
        if (
            not isinstance(sub, str)
            or not (sub.isascii() and sub.isdigit() and len(sub) <= 18)
            or not isinstance(payload.get("jti"), str)
        ):
            raise AuthenticationFailed("Invalid token.")
        family = payload.get("fam")
        if not isinstance(family, str) or not 0 < len(family) <= MAX_FAMILY_LENGTH:
            raise AuthenticationFailed("Invalid token.")
        try:
            expires_at = datetime.fromtimestamp(payload["exp"]).astimezone()
        except (OverflowError, OSError, ValueError) as error:  # an exp far beyond any real expiry
            raise AuthenticationFailed("Invalid token.") from error
        return TokenClaims(
            user_id=int(sub),
            jti=payload["jti"],
            expires_at=expires_at,
            family_id=family,
        )
