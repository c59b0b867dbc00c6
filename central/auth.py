"""API tokens and roles.

A token is ``spg_`` followed by 43 URL-safe characters (256 random bits). Central stores only
its SHA-256: a leaked database does not leak working tokens, and with this much entropy a slow
password hash would add nothing. Roles are ordered viewer < engineer < admin; reading needs viewer,
changing timings needs engineer, managing tokens needs admin.

Example:
    >>> token = new_token()
    >>> token.startswith("spg_") and len(hash_token(token)) == 64
    True
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central.store.base import ROLES, Role, Store

TOKEN_PREFIX = "spg_"


def new_token() -> str:
    """A fresh random API token (shown once to its owner, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request: the token's name (``anonymous`` without one) and its role."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this principal's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def get_store(request: Request) -> Store:
    """The store the app was built with."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer spg_...`.")


def get_principal(
    request: Request,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the request's bearer token (or fall back to the anonymous role)."""
    if credentials is None:
        anonymous: Role | None = request.app.state.settings.anonymous_role
        if anonymous is not None:
            return Principal("anonymous", anonymous)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    record = store.token_by_hash(hash_token(credentials.credentials))
    if record is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"}
        )
    return Principal(record.name, record.role)


def require(role: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits principals whose role includes ``role`` and refuses others with 403."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.may(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role; {principal.name} is {principal.role}")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Engineer = Annotated[Principal, Depends(require("engineer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
