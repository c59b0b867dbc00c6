"""``simpang model dataset`` and ``simpang model train``: make Simpang's default detector.

These join the ``model`` command group whoever creates it (:mod:`models.cli` adds ``fetch`` and
friends); listing this module after it in ``COMMAND_MODULES`` is enough.
"""

# Heavy imports (SUMO, ultralytics) stay inside the handlers so that `simpang --help` stays fast.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.commands.common import command_group
from models.errors import ModelError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``model dataset`` and ``model train``."""
    group = command_group(sub, "model", "make, fetch and inspect detector models")
    d = group.add_parser("dataset", help="render a domain-randomised YOLO dataset from the digital twin")
    d.add_argument("--out", type=Path, required=True, help="new folder to write images, labels and data.yaml into")
    d.add_argument("--episodes", type=int, default=100, help="SUMO runs, each with its own seed, light, demand and camera (default 100)")
    d.add_argument("--frames", type=int, default=40, help="images kept per episode (default 40)")
    d.add_argument("--seed", type=int, default=1, help="master seed (default 1)")
    d.add_argument(
        "--camera", choices=("any", "site"), default="any",
        help="'any': random corner, height, distance and lens (default); 'site': the twin site's camera with a mounting tolerance",
    )
    d.add_argument(
        "--demand", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="range of the demand multiplier (default 0.3 1.2)",
    )
    d.add_argument(
        "--held-out", action="store_true",
        help="make the evaluation set instead: unseen seeds, the 'afternoon' light, heavier demand, the site camera",
    )
    d.set_defaults(handler=run_dataset)

    t = group.add_parser("train", help="train the default detector on a twin dataset and export it to ONNX (needs the train extra)")
    t.add_argument("--data", type=Path, nargs="+", required=True, help="dataset folder(s) made by 'simpang model dataset'")
    t.add_argument("--out", type=Path, default=Path("models/simpang_twin.onnx"), help="ONNX file to write")
    t.add_argument("--held-out", type=Path, default=None, help="held-out dataset folder to measure the exported model on")
    t.add_argument("--hours", type=float, default=1.0, help="wall-clock training budget (default 1.0)")
    t.add_argument("--imgsz", type=int, default=320, help="training size, long side (default 320)")
    t.add_argument(
        "--export-imgsz", type=int, default=None,
        help="long side of the exported input (default: --imgsz); a convolutional detector trained at one "
        "size runs at a larger one, where small, far vehicles span more pixels",
    )
    t.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    t.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1: right on a shared machine; use the core count on a quiet one)")
    t.add_argument("--device", default="cpu", help="'cpu' or a CUDA device index (default cpu)")
    t.add_argument("--run-dir", type=Path, default=Path("runs/simpang_twin"), help="Ultralytics run folder")
    t.add_argument(
        "--init", type=Path, default=None,
        help="start from this model instead of from scratch: an Ultralytics checkpoint (.pt) or a "
        "model this command exported (.onnx, such as models/simpang_twin.onnx: fine-tune it on your own frames)",
    )
    t.set_defaults(handler=run_train)

    e = group.add_parser("evaluate", help="score an ONNX detector on a YOLO-format dataset through Simpang's inference path")
    e.add_argument("--model", type=Path, required=True, help="ONNX model file")
    e.add_argument("--data", type=Path, required=True, help="dataset folder (images/ and labels/)")
    e.add_argument("--split", default="val", help="split to score (default val)")
    e.add_argument("--family", default="auto", help="model family (default: read from the model)")
    e.add_argument("--conf", type=float, default=0.3, help="operating confidence for recall and precision (default 0.3)")
    e.add_argument("--json", action="store_true", help="print the report as one JSON object")
    e.set_defaults(handler=run_evaluate)


def run_dataset(args: argparse.Namespace) -> int:
    """Render the dataset."""
    from models.dataset import Recipe, held_out_recipe, write_dataset

    if args.episodes < 1 or args.frames < 1:
        raise ModelError("--episodes and --frames must be at least 1")
    if args.held_out:
        recipe = held_out_recipe(seed=args.seed if args.seed != 1 else 99, episodes=args.episodes, frames_per_episode=args.frames)
    else:
        recipe = replace(Recipe(), episodes=args.episodes, frames_per_episode=args.frames, seed=args.seed, camera=args.camera)
        if args.demand is not None:
            low, high = args.demand
            if not 0.0 < low <= high <= 3.0:
                raise ModelError(f"--demand {low} {high}: need 0 < LOW <= HIGH <= 3")
            recipe = replace(recipe, demand=(low, high))
    t0 = time.monotonic()
    counts = write_dataset(args.out, recipe)
    print(f"wrote {counts['train']} training and {counts['val']} validation images to {args.out} in {time.monotonic() - t0:.0f} s")
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train, export and (with --held-out) measure."""
    from models.train import TrainSettings, combine_datasets, export_onnx, rect_hw, train, write_report

    settings = replace(
        TrainSettings(),
        hours=args.hours,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        threads=max(1, args.threads),
        # 16:9 frames letterboxed to a 32-multiple height.
        export_hw=rect_hw(args.export_imgsz or args.imgsz),
    )
    data_yaml = combine_datasets(list(args.data), args.run_dir.with_name(args.run_dir.name + ".data.yaml"))
    t0 = time.monotonic()
    best = train(data_yaml, args.run_dir, settings, init=args.init)
    onnx_path = export_onnx(best, args.out, settings)
    metrics = score(onnx_path, args.held_out, "val", "auto", 0.3) if args.held_out else {}
    extra: dict[str, object] = {
        "datasets": {
            str(folder): json.loads((folder / "manifest.json").read_text()).get("images", {})
            for folder in args.data
            if (folder / "manifest.json").is_file()
        }
    }
    extra["train_wall_s"] = round(time.monotonic() - t0)
    write_report(args.out.with_suffix(".json"), settings, metrics, extra)
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB)")
    if metrics:
        print(json.dumps(metrics))
    return 0


def score(model: Path, data: Path, split: str, family: str, conf: float) -> dict[str, object]:
    """Held-out accuracy of ``model`` as the edge runs it (letterbox, adapter, NMS)."""
    from edge.config import ModelConfig
    from models.detector import Detector
    from models.evaluate import evaluate_folder

    # A low floor so the whole precision-recall curve is seen; ``conf`` is the operating point.
    detector = Detector.load(model, ModelConfig(path=str(model), family=family, confidence=0.01))
    report = evaluate_folder(detector, data, split, conf)
    report["model"] = model.name
    report["input_size"] = list(detector.input_size)
    return report


def run_evaluate(args: argparse.Namespace) -> int:
    """Score a model and print the report."""
    report = score(args.model, args.data, args.split, args.family, args.conf)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.model.name} on {args.data} ({report['images']} images): mAP50 {report['map50']:.3f}")
    per_class: dict[str, dict[str, Any]] = report["per_class"]  # type: ignore[assignment]
    for label, m in per_class.items():
        bands = "  ".join(f"{k} {v:.2f}" for k, v in m["recall_by_height"].items() if v is not None)
        print(
            f"  {label:11s} truth {int(m['truth']):6d}  AP50 {m['ap50']:.3f}  "
            f"recall {m['recall']:.3f}  precision {m['precision']:.3f}  (at conf {args.conf}; recall by box height: {bands})"
        )
    return 0
