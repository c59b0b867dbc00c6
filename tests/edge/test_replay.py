"""``simpang replay`` end to end on real video with the real detector, tracker and measures.

The bad-input cases are the issue's "bad input" target: each ends with one clear line, a
non-zero exit and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import main
from tests.helpers import SITES, shared_file


def _site(tmp_path: Path, line_y: float = 560, frame_size: str = "", width: int = 1280) -> Path:
    model = shared_file("yolox_nano.onnx")
    path = tmp_path / "site.yaml"
    path.write_text(
        f"""
site_id: t
cameras: [{{id: cam, source: clip.mp4 {frame_size}}}]
model: {{path: {model}, intra_op_threads: 2}}
lines: [{{id: row, camera: cam, points: [[0, {line_y}], [{width}, {line_y}]], in_label: down, out_label: up}}]
measures: {{live_interval_s: 1}}
""",
        encoding="utf-8",
    )
    return path


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_replay_writes_outputs_and_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_file("highway_uk_720p.mp4")
    out = tmp_path / "out"
    code = main(
        ["replay", str(video), "--site", str(_site(tmp_path)), "--out", str(out),
         "--limit", "40", "--stride", "2", "--annotate", "--json"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 40
    assert summary["detected_frames"] == 20
    assert summary["stride"] == 2
    assert summary["model"]["family"] == "yolox"
    assert set(summary["counts"]["row"]) == {"in", "out"}
    assert summary["counts"]["row"]["in"]["label"] == "down"
    for direction in ("in", "out"):
        c = summary["counts"]["row"][direction]
        assert c["total"] == sum(c["by_class"].values())
    t = summary["throughput"]
    assert t["pipeline_fps"] > 0
    assert t["model_only_fps"] > 0
    assert t["model_sample_frames"] > 0
    for stage in ("decode", "preprocess", "inference", "postprocess", "track", "measure", "annotate"):
        assert summary["stage_ms"][stage] >= 0
    assert summary["stage_ms"]["inference"] > 0
    assert _entries(out) == ["aggregates.csv", "aggregates.jsonl", "annotated.mp4", "events.csv", "summary.json"]
    # 1 s intervals aligned to the wall clock over 1.6 s of video: two or three of them.
    aggs = [json.loads(x) for x in (out / "aggregates.jsonl").read_text().splitlines()]
    assert 2 <= len(aggs) <= 3
    assert all(0 < a["duration_s"] <= 1.0 for a in aggs)
    assert [a["start"] for a in aggs] == sorted(a["start"] for a in aggs)
    assert (out / "events.csv").read_text().splitlines()[0] == "timestamp,event_code,event_param"
    assert json.loads((out / "summary.json").read_text())["frames"] == 40
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (1280, 720)
    cap.release()
    assert _entries(tmp_path) == ["out", "site.yaml"]  # no temporary folders left behind


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("simpang: error: ")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_truncated_video_fails_cleanly_with_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = shared_file("highway_uk_720p.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    msg = _fails(["replay", str(cut), "--site", str(_site(tmp_path)), "--out", str(out)], capsys)
    assert "cut.mp4: cannot be opened as a video" in msg
    assert not out.exists()
    assert _entries(tmp_path) == ["cut.mp4", "site.yaml"]


def test_video_breaking_off_mid_run_keeps_the_previous_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = cv2.VideoWriter(str(tmp_path / "small.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10, (320, 240))
    for i in range(30):
        writer.write(np.full((240, 320, 3), 4 * i, np.uint8))
    writer.release()
    whole = (tmp_path / "small.avi").read_bytes()
    (tmp_path / "broken.avi").write_bytes(whole[: len(whole) // 2])
    site = _site(tmp_path, line_y=120, width=320)
    out = tmp_path / "out"
    assert main(["replay", str(tmp_path / "small.avi"), "--site", str(site), "--out", str(out), "--json"]) == 0
    before = (out / "summary.json").read_text()
    capsys.readouterr()
    msg = _fails(["replay", str(tmp_path / "broken.avi"), "--site", str(site), "--out", str(out)], capsys)
    assert "video breaks off after" in msg
    assert (out / "summary.json").read_text() == before
    assert _entries(tmp_path) == ["broken.avi", "out", "site.yaml", "small.avi"]


def test_unreadable_model_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00" * 64)
    out = tmp_path / "out"
    video = shared_file("highway_uk_720p.mp4")
    msg = _fails(["replay", str(video), "--site", str(_site(tmp_path)), "--model", str(bad), "--out", str(out)], capsys)
    assert "bad.onnx: not a usable ONNX model" in msg
    assert not out.exists()


def test_line_outside_the_real_frame_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    video = shared_file("highway_uk_720p.mp4")
    msg = _fails(["replay", str(video), "--site", str(_site(tmp_path, line_y=800)), "--out", str(out)], capsys, code=2)
    assert "lines.0.points" in msg
    assert "outside camera 'cam' frame 1280x720" in msg
    assert not out.exists()


def test_declared_frame_size_must_match_the_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_file("highway_uk_720p.mp4")
    site = _site(tmp_path, line_y=400, frame_size=", frame_size: [1920, 1080]")
    msg = _fails(["replay", str(video), "--site", str(site), "--out", str(tmp_path / "o")], capsys, code=2)
    assert "the video is 1280x720 but camera 'cam' declares frame_size 1920x1080" in msg


def test_missing_video_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = _fails(["replay", str(tmp_path / "nope.mp4"), "--site", str(_site(tmp_path))], capsys)
    assert "nope.mp4: video file not found" in msg


def test_shipped_highway_site_runs_on_the_real_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_file("highway_uk_720p.mp4")
    out = tmp_path / "hw"
    args = ["replay", str(video), "--site", str(SITES / "highway_uk.yaml"), "--out", str(out), "--limit", "8", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["site"] == "highway-uk"
    assert summary["counts"]["row560"]["in"]["label"] == "towards_camera"
