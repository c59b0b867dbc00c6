"""Site configuration: validation with YAML line numbers, references, schema, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.commands import main
from edge.commands.config import schema
from edge.config_loader import load_site, parse_site
from edge.errors import ConfigError

SITES = Path(__file__).resolve().parents[2] / "edge" / "sites"

MINIMAL = """\
version: 1
site_id: test-site
cameras:
  - id: cam
    source: video.mp4
    frame_size: [640, 360]
model:
  path: model.onnx
lines:
  - id: l1
    camera: cam
    points: [[0, 100], [640, 100]]
"""


def test_shipped_sites_validate() -> None:
    files = sorted(SITES.glob("*.yaml"))
    assert files, "no shipped site files"
    for f in files:
        site = load_site(f)
        assert site.site_id


def test_minimal_site_parses_with_defaults() -> None:
    site = parse_site(MINIMAL)
    assert site.cameras[0].detect_stride == 1
    assert site.measures.pcu.motorcycle_protected == pytest.approx(0.15)
    assert site.measures.pcu.heavy == pytest.approx(1.3)
    assert site.camera("cam").frame_size == (640, 360)


@pytest.mark.parametrize(
    ("patch", "line", "needle"),
    [
        (("    source: video.mp4\n", "    source: video.mp4\n    colour: red\n"), 6, "cameras[0].colour: Extra inputs"),
        (("camera: cam\n", "camera: nocam\n"), 11, "lines[0].camera: unknown camera 'nocam'"),
        (("[[0, 100], [640, 100]]", "[[0, 100], [900, 100]]"), 12, "outside camera 'cam' frame 640x360"),
        (("  path: model.onnx\n", "  path: model.onnx\n  confidence: 2\n"), 9, "model.confidence: Input should be less"),
        (("site_id: test-site\n", "site_id: 'bad id!'\n"), 2, "site_id: String should match"),
    ],
)
def test_errors_name_path_and_line(patch: tuple[str, str], line: int, needle: str) -> None:
    text = MINIMAL.replace(*patch, 1)
    with pytest.raises(ConfigError) as info:
        parse_site(text, "site.yaml")
    joined = "\n".join(info.value.problems)
    assert needle in joined
    assert any(p.startswith(f"site.yaml:{line}:") and needle.split(":", maxsplit=1)[0] in p for p in info.value.problems), joined


def test_every_error_is_reported() -> None:
    text = MINIMAL.replace("  path: model.onnx\n", "  path: model.onnx\n  confidence: 2\n  iou: 0\n")
    with pytest.raises(ConfigError) as info:
        parse_site(text, "s.yaml")
    assert len(info.value.problems) == 2


def test_not_yaml_and_not_mapping() -> None:
    with pytest.raises(ConfigError, match=r"s.yaml:2: not valid YAML"):
        parse_site("a: [1, 2\nb: 3\n", "s.yaml")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        parse_site("- 1\n- 2\n", "s.yaml")


def test_signal_conflicting_stage_refused() -> None:
    text = MINIMAL + """\
signal:
  phases:
    - {id: 2, name: NS}
    - {id: 4, name: EW}
  conflicts: [[2, 4]]
  stages: [[2, 4], [4]]
"""
    with pytest.raises(ConfigError, match="conflicting phases 2 and 4"):
        parse_site(text)


def test_schema_documents_every_field() -> None:
    s = schema()
    models = {"SiteConfig": s, **s.get("$defs", {})}
    missing = [
        f"{model}.{field}"
        for model, d in models.items()
        for field, prop in d.get("properties", {}).items()
        if "description" not in prop
    ]
    assert not missing, f"fields without description: {missing}"


def test_cli_validate_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    assert main(["config", "validate", str(good)]) == 0
    assert "ok (site test-site" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("camera: cam\n", "camera: nope\n"))
    bad2 = tmp_path / "bad2.yaml"
    bad2.write_text(MINIMAL.replace("  path: model.onnx\n", "  path: model.onnx\n  iou: 0\n"))
    assert main(["config", "validate", str(good), str(bad), str(bad2)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:11: lines[0].camera: unknown camera" in err
    assert f"{bad2}:9: model.iou: Input should be greater than 0" in err
    assert err.strip().splitlines()[-1].startswith("simpang: error: 2 problem(s) in 2 file(s)")


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(tmp_path / "nope.yaml")]) == 2
    assert "site file not found" in capsys.readouterr().err


def test_cli_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["title"] == "SiteConfig"
    assert "cameras" in out["required"]
