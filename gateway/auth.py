"""Passwords, access tokens and who is calling.

Passwords are hashed with argon2 (argon2-cffi). Tokens are signed JWTs
(PyJWT, HS256) that expire; a visitor token names the one conversation it
opens and nothing else. User tokens are checked against the database on use
so that disabling an account takes effect at once; a user token also
carries a stamp of the password it was issued under, so a new password
revokes every token issued before it.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.errors import Unauthorized

if TYPE_CHECKING:
    from conversations import User

_hasher = PasswordHasher()

PrincipalKind = Literal["user", "visitor"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_stamp(password_hash: str) -> str:
    """A short digest of the password hash: tokens name it, so changing the
    password revokes them without a revocation list."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@functools.cache
def dummy_hash() -> str:
    """A hash of no one's password: checked against when there is no account,
    so a missing account costs the same time as a wrong password."""
    return _hasher.hash(secrets.token_hex(16))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user (agent, supervisor, admin, bot) or a visitor."""

    kind: PrincipalKind
    id: str
    role: str
    name: str | None = None
    conversation_id: str | None = None
    user: User | None = field(default=None, compare=False, repr=False)
    """A user's account as it was when the token was checked."""

    @property
    def sees_everything(self) -> bool:
        return self.kind == "user" and self.role in ("supervisor", "admin")


class TokenIssuer:
    def __init__(self, secret: str, *, user_ttl_s: int, visitor_ttl_s: int) -> None:
        self._secret = secret
        self.user_ttl_s = user_ttl_s
        self.visitor_ttl_s = visitor_ttl_s

    def issue_user(self, user_id: str, role: str, password_hash: str) -> str:
        claims = {"sub": user_id, "role": role, "typ": "user", "pwd": password_stamp(password_hash)}
        return self._encode(claims, self.user_ttl_s)

    def issue_visitor(self, customer_id: str, conversation_id: str) -> str:
        claims = {"sub": customer_id, "cid": conversation_id, "typ": "visitor"}
        return self._encode(claims, self.visitor_ttl_s)

    def _encode(self, claims: dict[str, Any], ttl: int) -> str:
        now = int(time.time())
        return jwt.encode({**claims, "iat": now, "exp": now + ttl}, self._secret, "HS256")

    def decode(self, token: object) -> dict[str, Any]:
        """Return the claims of a valid, unexpired token or raise ``Unauthorized``."""
        if not isinstance(token, str) or not token:
            raise Unauthorized("a token is required", code="invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is not valid", code="invalid_token") from None
        if claims.get("typ") not in ("user", "visitor"):
            raise Unauthorized("the token is not valid", code="invalid_token")
        return claims
