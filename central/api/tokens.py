"""``/api/tokens``: API tokens (admin only). The token itself is shown once, at creation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from central.auth import Admin, StoreDep, hash_token, new_token
from central.errors import StoreConflictError
from central.store.base import Role, TokenRecord

router = APIRouter(prefix="/api/tokens", tags=["tokens"])

TOKEN_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$"


class TokenCreate(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOKEN_NAME, description="Who or what uses it: 'alice', 'wall-screen'.")
    role: Role = Field(description="viewer, engineer or admin.")


class TokenPublic(BaseModel):
    """A token as listed: never the secret."""

    id: int
    name: str
    role: Role
    created_at: float
    revoked_at: float | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenPublic:
        """From the store's record."""
        return cls(id=t.id, name=t.name, role=t.role, created_at=t.created_at, revoked_at=t.revoked_at)


class TokenCreated(TokenPublic):
    """A new token, with its secret (shown this once)."""

    token: str = Field(description="The bearer token. Store it now: central keeps only its hash.")


@router.get("", summary="List tokens")
def list_tokens(store: StoreDep, _: Admin) -> list[TokenPublic]:
    """Every token, revoked ones included."""
    return [TokenPublic.of(t) for t in store.tokens()]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a token")
def create_token(body: TokenCreate, store: StoreDep, who: Admin) -> TokenCreated:
    """Create a token; the response holds the secret, which cannot be read again."""
    token = new_token()
    try:
        record = store.add_token(body.name, body.role, hash_token(token), actor=who.name)
    except StoreConflictError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return TokenCreated(**TokenPublic.of(record).model_dump(), token=token)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token")
def revoke_token(name: Annotated[str, Path(pattern=TOKEN_NAME)], store: StoreDep, who: Admin) -> Response:
    """Revoke the live token with this name."""
    if not store.revoke_token(name, actor=who.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live token named {name!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
