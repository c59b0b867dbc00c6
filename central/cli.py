"""``simpang central ...``: run the central service and manage its API tokens.

Each sub-command is a pair: an ``_add_<name>(subparsers)`` function that adds its parser and sets
``handler``, and the handler ``(args) -> int``. :data:`SUBCOMMANDS` lists the adders in help order;
a new sub-command (``keys``, ``bench``) adds its pair and one entry there. Heavy imports (FastAPI,
uvicorn, psycopg) stay inside handlers so ``simpang --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from central.cli_link import add_bench, add_ingest, add_keys, add_link_arguments, link_services
from central.errors import CentralError
from edge.commands.common import host_port

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_DB = os.environ.get("SIMPANG_DB_URL", "sqlite:///central.db")


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", default=DEFAULT_DB, metavar="URL",
        help="store URL: sqlite:///central.db (default, or $SIMPANG_DB_URL) or postgresql://user@host:port/db",
    )


# --- run ------------------------------------------------------------------------------------
def _add_run(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="serve the engineer API, dashboard and /metrics")
    _add_db(p)
    p.add_argument("--http", type=host_port, default=("127.0.0.1", 8080), metavar="HOST:PORT",
                   help="where the API and dashboard listen (default 127.0.0.1:8080)")
    p.add_argument("--anonymous-role", choices=("viewer",), default=None,
                   help="let requests without a token read (for a wall screen); default: token required")
    add_link_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Open the store and serve until interrupted."""
    import uvicorn  # noqa: PLC0415 - heavy, only this command needs it

    from central.app import create_app  # noqa: PLC0415
    from central.settings import Settings  # noqa: PLC0415
    from central.store import open_store  # noqa: PLC0415

    host, port = args.http
    settings = Settings(db_url=args.db, http_host=host, http_port=port, anonymous_role=args.anonymous_role,
                        zmq_endpoint=args.zmq)
    store = open_store(settings.db_url)
    try:
        link = link_services(store, settings.zmq_endpoint, args.keys) if settings.zmq_endpoint else None
        app = create_app(settings, store, **(link.app_kwargs() if link is not None else {}))
        config = uvicorn.Config(app, host=host, port=port, log_level="info" if args.verbose else "warning")
        server = uvicorn.Server(config)
        edges = f", edges on {settings.zmq_endpoint}" if settings.zmq_endpoint else ", API only"
        print(f"simpang central: serving http://{host}:{port}/ (store {_redacted(settings.db_url)}{edges})", flush=True)
        server.run()
    finally:
        store.close()
    return 0


def _redacted(url: str) -> str:
    from central.store.postgres import _redact  # noqa: PLC0415 - tiny helper, avoid duplicating it

    return _redact(url)


# --- token ----------------------------------------------------------------------------------
def _add_token(sub: Subparsers) -> None:
    p = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = p.add_subparsers(title="token commands", metavar="ACTION", required=True)
    c = tsub.add_parser("create", help="create a token and print it once")
    c.add_argument("name", help="who or what uses it: alice, wall-screen")
    c.add_argument("--role", choices=("viewer", "engineer", "admin"), required=True, help="what it may do")
    c.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_db(c)
    c.set_defaults(handler=token_create)
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    _add_db(ls)
    ls.set_defaults(handler=token_list)
    r = tsub.add_parser("revoke", help="revoke a token by name")
    r.add_argument("name")
    _add_db(r)
    r.set_defaults(handler=token_revoke)


def token_create(args: argparse.Namespace) -> int:
    """Create a token; print the secret (the store keeps only its hash)."""
    from central.api.tokens import TokenCreate  # noqa: PLC0415
    from central.auth import hash_token, new_token  # noqa: PLC0415
    from central.store import open_store  # noqa: PLC0415

    try:
        TokenCreate(name=args.name, role=args.role)
    except ValueError:
        raise CentralError(f"bad token name {args.name!r}: letters, digits and _.@- only, at most 64") from None
    token = new_token()
    store = open_store(args.db)
    try:
        record = store.add_token(args.name, args.role, hash_token(token), actor="cli")
    finally:
        store.close()
    if args.json:
        print(json.dumps({"name": record.name, "role": record.role, "token": token}))
    else:
        print(token)
    return 0


def token_list(args: argparse.Namespace) -> int:
    """Print one line per token."""
    from central.store import open_store  # noqa: PLC0415

    store = open_store(args.db)
    try:
        for t in store.tokens():
            state = "revoked" if t.revoked_at is not None else "live"
            print(f"{t.name}\t{t.role}\t{state}")
    finally:
        store.close()
    return 0


def token_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by name."""
    from central.store import open_store  # noqa: PLC0415

    store = open_store(args.db)
    try:
        if not store.revoke_token(args.name, actor="cli"):
            raise CentralError(f"no live token named {args.name!r}")
    finally:
        store.close()
    return 0


#: Sub-command adders, in the order ``simpang central --help`` lists them.
SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (_add_run, _add_token, add_keys, add_ingest, add_bench)


def add_parser(sub: Subparsers) -> None:
    """Add ``central`` and its sub-commands."""
    p = sub.add_parser("central", help="the central service edge clients report to: API, dashboard, tokens")
    csub = p.add_subparsers(title="central commands", metavar="ACTION", required=True)
    for adder in SUBCOMMANDS:
        adder(csub)
