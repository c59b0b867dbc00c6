"""``simpang central bench``: one JSON object whose figures come from a real end-to-end run."""

from __future__ import annotations

import json

import pytest

from central.bench import median_run
from edge.commands import main


def test_bench_prints_one_json_object_with_every_message_stored_once(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["central", "bench", "--count", "3000", "--chunk", "1000", "--latency-rate", "200",
                 "--latency-seconds", "0.5", "--json"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["store"] == "sqlite"
    assert result["exactly_once"] is True
    assert result["rows_stored"] >= 3000 + result["ack_latency_messages"]
    assert result["aggregates_per_s"] > 0
    assert 0 < result["ack_latency_ms_p50"] <= result["ack_latency_ms_p99"]
    assert result["machine"]["cpus"] >= 1


def test_bench_refuses_an_unknown_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "bench", "--db", "mysql://x", "--count", "10"]) == 1
    assert "--db must be 'sqlite' or a postgresql:// URL" in capsys.readouterr().err


def test_repeated_runs_report_the_median_run_and_fail_exactly_once_if_any_run_did() -> None:
    runs = [{"aggregates_per_s": r, "exactly_once": ok, "seconds": s}
            for r, ok, s in ((90.0, True, 1), (70.0, True, 2), (80.0, False, 3))]
    result = median_run(runs)
    assert result["seconds"] == 3  # the 80/s run's own figures
    assert result["runs_aggregates_per_s"] == [90.0, 70.0, 80.0]
    assert result["exactly_once"] is False
    assert median_run(runs[:1]) == runs[0]


def test_bench_refuses_zero_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "bench", "--repeat", "0"]) == 1
    assert "--repeat must be at least 1" in capsys.readouterr().err
