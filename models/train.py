"""Train Simpang's default detector on twin data and export it to ONNX (needs the ``train`` extra).

The network is Ultralytics' YOLO11 layout built from its YAML at a width below the ``n`` scale
(no pretrained weights: nothing is downloaded), trained from scratch on :mod:`models.dataset`
output for a fixed wall-clock budget, then exported without NMS (Simpang's adapters decode and
suppress) with the class names in the ONNX metadata, where
:func:`models.classes.class_map_from_names` finds them.

Why so small: the default model is trained on two CPU cores in an hour and a half. A thinner
network that sees its data several times beats a wider one that sees it once, and it runs faster
on a Raspberry Pi. Training is rectangular (the 16:9 frames letterboxed to 480x288 instead of
480x480), which saves 40 % of the compute; the export may use a larger input than training
(``export_hw``, ``simpang model train --export-imgsz``): small, far vehicles then span more pixels.
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.dataset import NAMES
from models.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Training knobs (defaults are what produced ``models/simpang_twin.onnx``).

    Attributes:
        architecture: Ultralytics model YAML whose layout is used (built from scratch).
        scale: ``(depth, width, max_channels)`` multipliers replacing the YAML's scales.
        rect: Rectangular batches (no mosaic) instead of square mosaics.
        imgsz: Training and export input size (square).
        hours: Wall-clock training budget; Ultralytics fits the schedule into it.
        epochs: Upper bound on epochs when ``hours`` is 0.
        batch: Batch size.
        workers: Data-loader processes.
        seed: Training seed.
        device: ``cpu`` or a CUDA device index.
        opset: ONNX opset of the export.
        threads: PyTorch threads (1 on a shared machine; more on a dedicated one).
        export_hw: Exported input ``(height, width)``: 16:9 frames letterboxed without waste.
    """

    architecture: str = "yolo11n.yaml"
    scale: tuple[float, float, int] = (0.5, 0.125, 1024)
    rect: bool = True
    imgsz: int = 320
    hours: float = 1.0
    epochs: int = 60
    batch: int = 8
    workers: int = 2
    seed: int = 0
    device: str = "cpu"
    opset: int = 17
    export_hw: tuple[int, int] = (192, 320)
    threads: int = 1


def ultralytics_module() -> Any:
    """The ``ultralytics`` package, or a one-line error naming the extra that installs it."""
    try:
        import ultralytics  # noqa: PLC0415 (the train extra, never on an edge box)
    except ImportError as err:
        raise ModelError("training needs the 'train' extra: pip install 'simpang[train]' (ultralytics)") from err
    return ultralytics


def combine_datasets(folders: list[Path], out: Path) -> Path:
    """One Ultralytics ``data.yaml`` over several dataset folders (train and val splits of each)."""
    for folder in folders:
        if not (folder / "data.yaml").is_file():
            raise ModelError(f"no dataset at {folder}: create one with 'simpang model dataset'")
    train_dirs = [str((f / "images" / "train").resolve()) for f in folders if any((f / "images" / "train").glob("*.jpg"))]
    val_dirs = [str((f / "images" / "val").resolve()) for f in folders if any((f / "images" / "val").glob("*.jpg"))]
    if not train_dirs or not val_dirs:
        raise ModelError("the datasets hold no training or no validation images")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "train:\n" + "".join(f"  - {d}\n" for d in train_dirs)
        + "val:\n" + "".join(f"  - {d}\n" for d in val_dirs)
        + "names:\n" + "".join(f"  {i}: {n}\n" for i, n in NAMES.items())
    )
    out.write_text(text)
    return out


def rect_hw(long_side: int) -> tuple[int, int]:
    """``(height, width)`` of the network input for 16:9 frames: the height rounded up to a multiple of 32.

    Example:
        >>> rect_hw(640), rect_hw(480), rect_hw(320)
        ((384, 640), (288, 480), (192, 320))
    """
    if long_side < 32 or long_side % 32:
        raise ModelError(f"input size {long_side} must be a positive multiple of 32")
    return -(-long_side * 9 // 16 // 32) * 32, long_side


def train(data_yaml: Path, run_dir: Path, settings: TrainSettings = TrainSettings(), init: Path | None = None) -> Path:
    """Train on ``data_yaml``; returns the best checkpoint.

    ``init``, if given, is where training starts: an Ultralytics checkpoint (``.pt``), or a model
    this command exported (``.onnx``, such as the committed default), rebuilt by
    :mod:`models.warm_start` in this run's architecture.
    """
    if not data_yaml.is_file():
        raise ModelError(f"no dataset at {data_yaml}: create one with 'simpang model dataset'")
    ul = ultralytics_module()
    if init is not None:
        if not init.is_file():
            raise ModelError(f"no checkpoint at {init}")
        if init.suffix == ".onnx":
            init = _checkpoint_from_onnx(init, data_yaml, run_dir, settings)
        model = ul.YOLO(str(init))
    else:
        model = ul.YOLO(str(_scaled_architecture(settings, run_dir.with_name(run_dir.name + ".model.yaml"))))
    kwargs: dict[str, Any] = {
        "data": str(data_yaml),
        "imgsz": settings.imgsz,
        "epochs": settings.epochs,
        "batch": settings.batch,
        "workers": settings.workers,
        "seed": settings.seed,
        "device": settings.device,
        "project": str(run_dir.parent.resolve()),
        "name": run_dir.name,
        "exist_ok": True,
        # From scratch, unless continuing from a checkpoint (whose weights must then be kept).
        "pretrained": init is not None,
        "rect": settings.rect,
        "amp": False,
        "cache": "ram",
        "plots": False,
        # An hour on a shared CPU is only a few epochs: warm up for a fraction of the first one,
        # not the default three (which would be the whole run).
        "warmup_epochs": 0.3,
        "close_mosaic": 0,
        "patience": 100,
        "verbose": False,
    }
    if settings.hours > 0:
        kwargs["time"] = settings.hours
    # One thread per process: on a shared machine, a second OpenMP thread that is descheduled
    # stalls every parallel region (measured here: 3.4 s per batch with one thread, 7 s with two).
    importlib.import_module("torch").set_num_threads(settings.threads)
    model.train(**kwargs)
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        raise ModelError(f"training ended without a checkpoint in {best.parent}")
    return best


def _checkpoint_from_onnx(onnx_path: Path, data_yaml: Path, run_dir: Path, settings: TrainSettings) -> Path:
    import yaml  # noqa: PLC0415 (only needed when training)

    from models.warm_start import checkpoint_from_onnx  # noqa: PLC0415

    train_dirs = yaml.safe_load(data_yaml.read_text()).get("train") or []
    return checkpoint_from_onnx(
        onnx_path,
        _scaled_architecture(settings, run_dir.with_name(run_dir.name + ".model.yaml")),
        [Path(d) for d in ([train_dirs] if isinstance(train_dirs, str) else train_dirs)],
        rect_hw(settings.imgsz),
        run_dir.with_name(run_dir.name + ".init.pt"),
    )


def _scaled_architecture(settings: TrainSettings, out: Path) -> Path:
    """Write the architecture YAML with this model's own scale and class count."""
    import yaml  # noqa: PLC0415 (only needed when training)
    from ultralytics.nn.tasks import yaml_model_load  # noqa: PLC0415 (the train extra)

    cfg = dict(yaml_model_load(settings.architecture))
    cfg["scales"] = {"simpang": list(settings.scale)}
    cfg["nc"] = len(NAMES)
    for key in ("scale", "yaml_file"):
        cfg.pop(key, None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def export_onnx(weights: Path, out: Path, settings: TrainSettings = TrainSettings()) -> Path:
    """Export ``weights`` to ONNX at ``out`` (raw head output, no NMS, names in metadata)."""
    ul = ultralytics_module()
    model = ul.YOLO(str(weights))
    made = Path(
        model.export(format="onnx", imgsz=list(settings.export_hw), opset=settings.opset, simplify=True, dynamic=False, nms=False)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if made.resolve() != out.resolve():  # Ultralytics writes beside the weights, which may be ``out``
        shutil.copyfile(made, out)
    return out


def write_report(path: Path, settings: TrainSettings, metrics: dict[str, Any], extra: dict[str, Any]) -> None:
    """Save the settings and held-out metrics next to the model (the model card's numbers)."""
    path.write_text(json.dumps({"settings": asdict(settings), "held_out": metrics, **extra}, indent=1) + "\n")
