"""Tokens and roles: hashed at rest, 401 without a valid token, 403 for a weak role, CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.auth import Principal, hash_token, new_token
from central.settings import Settings
from central.store import Store, open_store
from edge.commands import main
from tests.central.apphelpers import Api, make_api
from tests.central.factories import T0, health, signal


@pytest.fixture
def api(sqlite_store: Store) -> Iterator[Api]:
    a = make_api(sqlite_store)
    with a.client:
        yield a


def test_tokens_are_random_and_stored_hashed(tmp_path: Path) -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    store.add_token("alice", "engineer", hash_token(token))
    store.close()
    raw = sqlite3.connect(tmp_path / "c.db").execute("SELECT * FROM tokens").fetchall()
    assert token not in repr(raw)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer spg_not_a_real_token"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ],
)
def test_missing_or_bad_token_is_401(api: Api, header: dict[str, str], status: int) -> None:
    r = api.client.get("/api/sites", headers=header)
    assert r.status_code == status
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("role", "can_read", "can_change", "can_admin"),
    [("viewer", True, False, False), ("engineer", True, True, False), ("admin", True, True, True)],
)
def test_roles(api: Api, role: str, can_read: bool, can_change: bool, can_admin: bool) -> None:
    api.store.ingest([health("s1", 1, T0)])
    h = api.headers[role]  # type: ignore[index]
    assert (api.client.get("/api/sites", headers=h).status_code == 200) is can_read
    r = api.client.post("/api/sites/s1/plans", json={"signal": signal().model_dump()}, headers=h)
    assert r.status_code == (201 if can_change else 403)
    if not can_change:
        assert "needs the engineer role" in r.json()["detail"]
    assert (api.client.get("/api/tokens", headers=h).status_code == 200) is can_admin


def test_admin_creates_lists_and_revokes_tokens(api: Api) -> None:
    admin = api.headers["admin"]
    r = api.client.post("/api/tokens", json={"name": "wall", "role": "viewer"}, headers=admin)
    assert r.status_code == 201
    token = r.json()["token"]
    assert api.client.get("/api/sites", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.client.post("/api/tokens", json={"name": "wall", "role": "viewer"}, headers=admin).status_code == 409
    listed = api.client.get("/api/tokens", headers=admin).json()
    assert "token" not in listed[0]
    assert "wall" in [t["name"] for t in listed]
    assert api.client.delete("/api/tokens/wall", headers=admin).status_code == 204
    assert api.client.get("/api/sites", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert api.client.delete("/api/tokens/wall", headers=admin).status_code == 404
    actions = [(e["actor"], e["action"]) for e in api.client.get("/api/audit", headers=admin).json()]
    assert ("admin-user", "token.revoked") in actions
    assert ("admin-user", "token.created") in actions
    bad = api.client.post("/api/tokens", json={"name": "no spaces", "role": "viewer"}, headers=admin)
    assert bad.status_code == 422


def test_anonymous_role_reads_but_cannot_change(sqlite_store: Store) -> None:
    a = make_api(sqlite_store, Settings(anonymous_role="viewer"))
    sqlite_store.ingest([health("s1", 1, T0)])
    with a.client:
        assert a.client.get("/api/sites").status_code == 200
        assert a.client.post("/api/sites/s1/plans", json={"signal": signal().model_dump()}).status_code == 403


def test_principal_role_order() -> None:
    assert Principal("a", "admin").may("engineer")
    assert not Principal("v", "viewer").may("engineer")


def test_cli_token_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    assert main(["central", "token", "create", "alice", "--role", "engineer", "--db", db, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    store = open_store(db)
    record = store.token_by_hash(hash_token(created["token"]))
    store.close()
    assert record is not None
    assert (record.name, record.role) == ("alice", "engineer")
    assert main(["central", "token", "list", "--db", db]) == 0
    assert capsys.readouterr().out == "alice\tengineer\tlive\n"
    assert main(["central", "token", "revoke", "alice", "--db", db]) == 0
    assert main(["central", "token", "revoke", "alice", "--db", db]) == 1
    assert "no live token named 'alice'" in capsys.readouterr().err


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.commands", "central", "token", "create", "bad name", "--role", "viewer",
         "--db", f"sqlite:///{tmp_path}/c.db"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "simpang: error: bad token name 'bad name': letters, digits and _.@- only, at most 64"
    ]
