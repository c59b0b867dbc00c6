"""``simpang model info`` and ``simpang model fetch`` (against a real local HTTP server)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.commands import main
from models.errors import ModelLoadError
from models.zoo import resolve_model
from tests.helpers import SHARED_DATA, shared_file


def test_model_info_describes_the_real_yolox(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("yolox_nano.onnx")
    assert main(["model", "info", str(path), "--json", "--runs", "2", "--threads", "2"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "yolox"
    assert info["inputs"] == ["images[1x3x416x416] float"]
    assert info["outputs"] == ["output[1x3549x85] float"]
    assert info["classes"] == {"0": "person", "1": "bicycle", "2": "car", "3": "motorcycle", "5": "bus", "7": "truck"}
    assert info["providers"] == ["CPUExecutionProvider"]
    assert len(info["warmup_ms"]) == 2
    assert all(ms > 0 for ms in info["warmup_ms"])


def test_model_info_human_output_and_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", str(shared_file("yolox_nano.onnx")), "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "family    yolox" in out
    assert "warm-up   first run" in out
    bad = tmp_path / "x.onnx"
    bad.write_text("nope")
    assert main(["model", "info", str(bad)]) == 1
    assert capsys.readouterr().err.strip().startswith("simpang: error: ")


@pytest.fixture
def http_data() -> Iterator[str]:
    """A real HTTP server on loopback serving ../shared/data; yields its base URL."""
    shared_file("yolox_nano.onnx")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SHARED_DATA))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_downloads_and_verifies(tmp_path: Path, http_data: str, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "models"
    assert main(["model", "fetch", "yolox-nano", "--dest", str(dest), "--url", f"{http_data}/yolox_nano.onnx"]) == 0
    assert "SHA-256 verified" in capsys.readouterr().out
    got = dest / "yolox_nano.onnx"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == (
        "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd"
    )
    assert sorted(p.name for p in dest.iterdir()) == ["yolox_nano.onnx"]


@pytest.mark.parametrize(("served", "message"), [("yolov8n_coco_int8.onnx", "does not match"), ("absent.onnx", "download failed")])
def test_fetch_refuses_wrong_or_missing_file_and_leaves_nothing(
    tmp_path: Path, http_data: str, capsys: pytest.CaptureFixture[str], served: str, message: str
) -> None:
    dest = tmp_path / "models"
    assert main(["model", "fetch", "yolox-nano", "--dest", str(dest), "--url", f"{http_data}/{served}"]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert list(dest.iterdir()) == []


def test_fetch_unknown_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "fetch", "resnet"]) == 1
    assert "unknown model 'resnet' (known: yolox-nano)" in capsys.readouterr().err


def test_site_may_name_a_fetched_model(tmp_path: Path, http_data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMPANG_MODELS", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="run `simpang model fetch yolox-nano`"):
        resolve_model("yolox-nano")
    assert main(["model", "fetch", "yolox-nano", "--url", f"{http_data}/yolox_nano.onnx"]) == 0
    assert resolve_model("yolox-nano") == tmp_path / "cache" / "yolox_nano.onnx"
