"""``simpang model info MODEL`` and ``simpang model fetch NAME``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``model`` and its sub-commands."""
    p = sub.add_parser("model", help="inspect detector models and fetch known ones")
    ms = p.add_subparsers(title="model commands", metavar="ACTION", required=True)
    i = ms.add_parser("info", help="print a model's family, input, outputs, classes, providers and warm-up time")
    i.add_argument("model", metavar="MODEL", help="ONNX file or known model name (e.g. yolox-nano)")
    i.add_argument("--family", default="auto", help="decode as this family (default: auto-detect)")
    i.add_argument("--providers", default="cpu", help="comma-separated execution providers (default: cpu)")
    i.add_argument("--threads", type=int, default=0, help="intra-op threads (default: onnxruntime's choice)")
    i.add_argument("--runs", type=int, default=5, help="timed warm-up runs (default 5)")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(handler=_info)
    f = ms.add_parser("fetch", help="download a known model and verify its SHA-256")
    f.add_argument("name", metavar="NAME", help="known model name (yolox-nano)")
    f.add_argument("--dest", type=Path, help="folder to put it in (default: $SIMPANG_MODELS or ~/.cache/simpang/models)")
    f.add_argument("--url", help="download from this URL instead (a mirror); the SHA-256 is still checked")
    f.set_defaults(handler=_fetch)


def model_info(model: str, family: str, providers: list[str], threads: int, runs: int) -> dict[str, Any]:
    """Load a model and describe it, with the time of each warm-up run."""
    from edge.config import ModelConfig  # noqa: PLC0415 - keep `simpang --help` light
    from models.detector import Detector  # noqa: PLC0415
    from models.zoo import resolve_model  # noqa: PLC0415

    path = resolve_model(model, Path.cwd())
    cfg = ModelConfig.model_validate(
        {"path": str(path), "family": family, "providers": providers, "intra_op_threads": threads}
    )
    det = Detector.load(path, cfg, warmup_runs=max(1, runs))
    spec = det.spec
    return {
        "path": str(path),
        "family": det.family,
        "inputs": [str(t) for t in spec.inputs],
        "input_size": list(det.input_size),
        "outputs": [str(t) for t in spec.outputs],
        "classes": {str(k): v.label for k, v in sorted(det.class_map.items())},
        "providers": det.providers,
        "warmup_ms": [round(1000 * s, 2) for s in det.warmup_s],
        "metadata": {k: v for k, v in spec.metadata.items() if k in ("description", "author", "license", "version", "end2end")},
    }


def _info(args: argparse.Namespace) -> int:
    info = model_info(args.model, args.family, [p for p in args.providers.split(",") if p], args.threads, args.runs)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"model     {info['path']}")
    print(f"family    {info['family']}")
    print(f"input     {', '.join(info['inputs'])}")
    print(f"outputs   {', '.join(info['outputs'])}")
    print(f"classes   {', '.join(f'{k}->{v}' for k, v in info['classes'].items())}")
    print(f"providers {', '.join(info['providers'])}")
    first, rest = info["warmup_ms"][0], info["warmup_ms"][1:]
    steady = f", then {min(rest):.1f} ms" if rest else ""
    print(f"warm-up   first run {first:.1f} ms{steady} (preprocess + inference + NMS on a blank frame)")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from models.zoo import fetch  # noqa: PLC0415

    with tqdm(unit="B", unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        path = fetch(args.name, args.dest, url=args.url, progress=progress)
    print(f"{args.name}: {path} (SHA-256 verified)")
    return 0
