"""CurveZMQ keys: the key folder, the CLI, and a ZAP handler that admits only listed edge boxes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from central.errors import KeyFileError
from central.ingest import IngestServer
from central.keys import KeyFolder
from central.store import Store
from edge.commands import main
from edge.errors import LinkError
from edge.link import ACK, DATA
from edge.messages import Health, encode
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from tests.central import factories
from tests.central.test_ingest import stored_seqs, wait_for


def test_create_and_list_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "keys", "create", "site-a", "--dir", str(tmp_path), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert Path(made["secret_file"]).stat().st_mode & 0o077 == 0, "secret keys are private to their owner"
    assert main(["central", "keys", "create", "site-b", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["central", "keys", "list", "--dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["server"]) for k in listed] == [("central", True), ("site-a", False), ("site-b", False)]
    assert listed[0]["public_key"] == made["server_public_key"]
    assert listed[1]["public_key"] == made["public_key"]


@pytest.mark.parametrize(("name", "match"), [("bad name", "must be a site id"), ("central", "must be a site id")])
def test_bad_key_names_are_refused(tmp_path: Path, name: str, match: str) -> None:
    with pytest.raises(KeyFileError, match=match):
        KeyFolder(tmp_path).create(name)


def test_duplicate_key_is_a_one_line_cli_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "keys", "create", "site-a", "--dir", str(tmp_path)]) == 0
    assert main(["central", "keys", "create", "site-a", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"simpang: error: a key named 'site-a' exists already in {tmp_path / 'public'}"
    ]


def test_removing_a_public_key_revokes_it(tmp_path: Path) -> None:
    keys = KeyFolder(tmp_path)
    a, b = keys.create("site-a"), keys.create("site-b")
    assert sorted(keys.admitted().values()) == ["site-a", "site-b"]
    time.sleep(0.01)  # a new mtime for the folder
    b.public_file.unlink()
    assert list(keys.admitted().values()) == ["site-a"]
    assert a.public_key.encode() in keys.admitted()


def test_server_without_keys_is_a_clear_error(tmp_path: Path, sqlite_store: Store) -> None:
    with pytest.raises(KeyFileError, match="central's secret key is missing"):
        IngestServer("tcp://127.0.0.1:*", sqlite_store, keys_dir=tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> KeyFolder:
    folder = KeyFolder(tmp_path / "keys")
    folder.create("site-a")
    return folder


@pytest.fixture
def secure_server(keys: KeyFolder, sqlite_store: Store) -> Iterator[IngestServer]:
    with IngestServer("tcp://127.0.0.1:*", sqlite_store, keys_dir=keys.root) as server:
        yield server


def test_listed_edge_is_admitted_over_curve(tmp_path: Path, keys: KeyFolder, secure_server: IngestServer,
                                            sqlite_store: Store) -> None:
    spool = Spool(tmp_path / "s.sqlite", site="site-a")
    settings = LinkSettings(secure_server.endpoint, server_public_key=keys.ensure_server().public_key,
                            client_key_file=str(keys.private_dir / "site-a.key_secret"))
    pub = Publisher(spool, settings)
    pub.start()
    try:
        pub.publish_many([Health(uptime_s=float(i)) for i in range(20)])
        assert pub.wait_drained(10.0)
        assert stored_seqs(sqlite_store, "site-a") == list(range(1, 21))
    finally:
        pub.stop()
        spool.close()


def _curve_dealer(ctx: zmq.Context[Any], endpoint: str, server_key: str | None) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey = server_key.encode()
        sock.curve_publickey = public
        sock.curve_secretkey = secret
    sock.connect(endpoint)
    return sock


@pytest.mark.parametrize("client", ["unknown key", "no key"])
def test_unknown_or_keyless_client_is_refused_logged_and_never_served(
    keys: KeyFolder, secure_server: IngestServer, sqlite_store: Store, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    server_key = keys.ensure_server().public_key if client == "unknown key" else None
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with caplog.at_level(logging.WARNING):
            sock = _curve_dealer(ctx, secure_server.endpoint, server_key)
            sock.send_multipart([DATA, encode(factories.health("site-a", 1, 1.7e9))])
            assert not sock.poll(1000), "a refused client must get no answer"
            wait_for(lambda: secure_server.stats().refused_connections >= 1)
        assert stored_seqs(sqlite_store, "site-a") == []
        assert any("refused" in r.getMessage() for r in caplog.records)
    finally:
        ctx.destroy(linger=0)


def test_a_box_may_publish_only_for_its_own_site(keys: KeyFolder, secure_server: IngestServer,
                                                 sqlite_store: Store) -> None:
    public, secret = zmq.auth.load_certificate(keys.private_dir / "site-a.key_secret")
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_serverkey = keys.ensure_server().public_key.encode()
        sock.curve_publickey = public
        assert secret is not None
        sock.curve_secretkey = secret
        sock.connect(secure_server.endpoint)
        sock.send_multipart([DATA, encode(factories.health("site-a", 1, 1.7e9)),
                             encode(factories.health("site-z", 1, 1.7e9))])
        assert sock.poll(5000)
        kind, _ = sock.recv_multipart()
        assert kind == ACK
        assert stored_seqs(sqlite_store, "site-a") == [1]
        assert stored_seqs(sqlite_store, "site-z") == []
        assert secure_server.stats().rejected == {"site_mismatch": 1}
    finally:
        ctx.destroy(linger=0)


def test_edge_key_file_must_hold_a_secret_key(tmp_path: Path, keys: KeyFolder) -> None:
    spool = Spool(tmp_path / "s.sqlite", site="site-a")
    try:
        with pytest.raises(LinkError, match="holds only a public key"):
            Publisher(spool, LinkSettings("tcp://127.0.0.1:1", server_public_key=keys.ensure_server().public_key,
                                          client_key_file=str(keys.public_dir / "site-a.key")))
    finally:
        spool.close()


def test_edge_with_an_unlisted_key_says_central_refused_it(
    tmp_path: Path, keys: KeyFolder, secure_server: IngestServer, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = KeyFolder(tmp_path / "elsewhere").create("site-a")  # same name, a key central never listed
    spool = Spool(tmp_path / "s.sqlite", site="site-a")
    assert stranger.secret_file is not None
    pub = Publisher(spool, LinkSettings(secure_server.endpoint, server_public_key=keys.ensure_server().public_key,
                                        client_key_file=str(stranger.secret_file)))
    with caplog.at_level(logging.ERROR):
        pub.start()
        try:
            pub.publish(Health(uptime_s=1.0))
            wait_for(lambda: pub.handshake_failures >= 1)
            assert spool.depth == 1, "the message waits in the spool"
        finally:
            pub.stop()
            spool.close()
    assert any("refused the handshake" in r.getMessage() for r in caplog.records)
