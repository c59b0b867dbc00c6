"""Central's storage: one small interface, SQLite and PostgreSQL behind it.

Example:
    >>> store = open_store("sqlite:///:memory:")
    >>> store.sites()
    []
    >>> store.close()
"""

from __future__ import annotations

from urllib.parse import urlsplit

from central.errors import StoreError
from central.store.base import (
    ROLES,
    AuditEntry,
    MessageKind,
    PlanRecord,
    PlanStatus,
    Role,
    SiteState,
    SiteSummary,
    Store,
    StoredMessage,
    TokenRecord,
)

__all__ = [
    "ROLES",
    "AuditEntry",
    "MessageKind",
    "PlanRecord",
    "PlanStatus",
    "Role",
    "SiteState",
    "SiteSummary",
    "Store",
    "StoredMessage",
    "TokenRecord",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open (creating its schema if needed) the store a URL names.

    Args:
        url: ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``, ``sqlite:///:memory:``,
            or ``postgresql://user@host:port/dbname`` (needs the ``pg`` extra).

    Raises:
        StoreError: Unknown scheme, or the database cannot be opened.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise StoreError(f"bad SQLite URL {url!r}: expected sqlite:///path/to/file.db")
        from central.store.sqlite import SqliteStore  # noqa: PLC0415 - backends load on demand

        return SqliteStore(url[len(prefix) :])
    if scheme in ("postgresql", "postgres"):
        from central.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg is an optional extra

        return PostgresStore(url)
    raise StoreError(f"unknown store URL {url!r}: use sqlite:///file.db or postgresql://user@host:port/db")
