"""``simpang replay VIDEO --site CONFIG``: run the edge pipeline on a recorded video and report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay``."""
    p = sub.add_parser(
        "replay",
        help="run the edge pipeline on a recorded video as fast as possible",
        description=(
            "Replay a video through the same stages as the edge box (decode, detect, track, measure) and "
            "write aggregates (JSON Lines and CSV), hi-res events (CSV), summary.json and optionally an "
            "annotated MP4. Outputs appear only when the run succeeds."
        ),
    )
    p.add_argument("video", type=Path, metavar="VIDEO", help="recorded video file")
    p.add_argument("--site", type=Path, required=True, metavar="CONFIG", help="site YAML file")
    p.add_argument("--model", type=Path, metavar="M", help="model file overriding the site's (family auto-detected)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default out/replay-<video name>)")
    p.add_argument("--camera", metavar="ID", help="camera of the site the video shows (default: the only one)")
    p.add_argument("--stride", type=positive_int, metavar="K", help="detect every K-th frame and track in between")
    p.add_argument("--threads", type=positive_int, metavar="N", help="onnxruntime intra-op threads (default: the site's)")
    p.add_argument("--annotate", action="store_true", help="also write annotated.mp4 with boxes, ids, lines, counts")
    p.add_argument("--limit", type=positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(handler=run)


def _print_human(summary: dict[str, Any], out_dir: Path) -> None:
    print(f"replayed {summary['frames']} frame(s) of {summary['video']} (stride {summary['stride']})")
    for line_id, dirs in summary["counts"].items():
        for direction, c in dirs.items():
            classes = ", ".join(f"{k} {v}" for k, v in c["by_class"].items()) or "none"
            print(f"  {line_id} {direction} ({c['label']}): {c['total']}  [{classes}]")
    t = summary["throughput"]
    print(f"  pipeline {t['pipeline_fps']} fps, model only {t['model_only_fps']} fps; ms per stage:")
    print("   " + ", ".join(f"{k} {v}" for k, v in summary["stage_ms"].items()))
    print(f"  outputs in {out_dir}: {', '.join(summary['outputs'])}")


def run(args: argparse.Namespace) -> int:
    """Replay and print the summary."""
    import sys  # noqa: PLC0415

    from edge.replay import ReplayOptions, run_replay  # noqa: PLC0415 - heavy (OpenCV, onnxruntime)

    options = ReplayOptions(
        video=args.video,
        site_path=args.site,
        model=args.model,
        out_dir=args.out,
        camera=args.camera,
        stride=args.stride,
        annotate=args.annotate,
        limit=args.limit,
        threads=args.threads,
        progress=sys.stderr.isatty() and not args.json,
    )
    result = run_replay(options)
    if args.json:
        print(json.dumps(result.summary))
    else:
        _print_human(result.summary, result.out_dir)
    return 0
