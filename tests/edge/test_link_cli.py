"""``simpang edge send`` and ``simpang edge spool`` against a real ingest server and store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.ingest import IngestServer
from central.store import Store, open_store
from edge.commands import main
from tests.central import factories
from tests.central.test_ingest import stored_seqs


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/central.db")
    yield store
    store.close()


@pytest.fixture
def server(sqlite_store: Store) -> Iterator[IngestServer]:
    with IngestServer("tcp://127.0.0.1:*", sqlite_store) as s:
        yield s


def _jsonl(path: Path, n: int) -> Path:
    path.write_text("".join(factories.aggregate("x", 1, 1.7e9 + 15 * i).body.model_dump_json() + "\n" for i in range(n)))
    return path


def test_send_delivers_a_replay_file_and_the_spool_is_left_empty(
    tmp_path: Path, server: IngestServer, sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool.sqlite"
    args = ["edge", "send", str(_jsonl(tmp_path / "aggregates.jsonl", 40)), "--central", server.endpoint,
            "--site-id", "site-s", "--spool", str(spool), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sent"], summary["acked"], summary["all_acked"]) == (40, 40, True)
    assert stored_seqs(sqlite_store, "site-s") == list(range(1, 41))
    assert main(["edge", "spool", str(spool), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "site": "site-s", "waiting": 0, "bytes": 0, "first_seq": None, "last_seq": None, "numbered": 40,
    }


def test_a_bad_line_sends_nothing_and_says_where(tmp_path: Path, server: IngestServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path / "aggregates.jsonl", 3)
    path.write_text(path.read_text() + '{"start": 1.0, "duration_s": -5}\n')
    spool = tmp_path / "spool.sqlite"
    assert main(["edge", "send", str(path), "--central", server.endpoint, "--spool", str(spool)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"simpang: error: {path}:4: not an aggregate (duration_s: Input should be greater than 0); nothing sent"]
    assert not spool.exists()


def test_messages_wait_in_the_spool_while_central_is_away(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool.sqlite"
    args = ["edge", "send", str(_jsonl(tmp_path / "a.jsonl", 5)), "--central", "tcp://127.0.0.1:9",
            "--site-id", "site-s", "--spool", str(spool), "--timeout", "0.5"]
    assert main(args) == 1
    assert "5 still spooled" in capsys.readouterr().out
    assert main(["edge", "spool", str(spool), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["waiting"] == 5


@pytest.mark.parametrize(("args", "message"), [
    (["edge", "spool", "/nonexistent/spool.sqlite"], "simpang: error: /nonexistent/spool.sqlite: spool file not found"),
    (["edge", "link-test", "--count", "1"], "simpang: error: name central with --central tcp://HOST:PORT or --site FILE"),
])
def test_user_errors_are_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) != 0
    assert capsys.readouterr().err.strip().splitlines() == [message]
