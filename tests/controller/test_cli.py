"""``simpang controller``: a tiny benchmark end to end, the scenario writer, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.commands import main

pytest.importorskip("libsumo")


def test_bench_json_on_a_short_horizon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "controller", "bench", "--scenario", "fourleg", "--controllers", "simpang,sumo_static",
        "--seeds", "1", "--duration", "150", "--no-tune", "--json",
        "--workdir", str(tmp_path / "work"), "--results", str(tmp_path / "results"),
    ])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    delays = doc["average_delay_s"]["fourleg"]
    assert set(delays) == {"simpang", "sumo_static"}
    assert all(d > 0 for d in delays.values())
    assert doc["machine"]["cpus"] >= 1
    saved = json.loads((tmp_path / "results" / "controller_bench_fourleg.json").read_text())
    assert saved["average_delay_s"] == doc["average_delay_s"]
    assert len(saved["runs"]) == 2


def test_scenario_writes_a_sumocfg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["controller", "scenario", "--out", str(tmp_path), "--duration", "60"]) == 0
    cfg = Path(capsys.readouterr().out.strip())
    assert cfg.exists()
    assert (tmp_path / "fourleg.net.xml").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenario", "atlantis"], "unknown scenario 'atlantis'"),
        (["--scenario", "fourleg", "--controllers", "magic"], "unknown controller(s) magic"),
        (["--scenario", "fourleg", "--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_bad_bench_arguments_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["controller", "bench", *argv, "--no-tune", "--workdir", str(tmp_path), "--results", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("simpang: error: ")
    assert message in err[-1]
