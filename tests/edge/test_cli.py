"""The ``simpang`` command line: help, demo, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge.commands import COMMAND_MODULES, main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for module in COMMAND_MODULES:
        assert module.rsplit(".", 1)[-1].split("_")[0] in out


def test_demo_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0
    assert "--duration" in capsys.readouterr().out
    assert main(["demo", "--duration", "-5", "--headless"]) == 2
    assert "--duration and --pace must be positive" in capsys.readouterr().err


def test_console_entry_bad_input_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.commands", "config", "validate", "/nonexistent/site.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["simpang: error: /nonexistent/site.yaml: site file not found"]
    assert "Traceback" not in proc.stderr
