"""Measure a detector on a YOLO-format folder through Simpang's own inference path.

The model card's numbers come from here: the same letterbox, adapter and NMS the edge runs
(:class:`models.detector.Detector`), not the training framework's validator. Matching is
class-aware and greedy by score at IoU >= 0.5 (the PASCAL VOC / COCO AP50 rule); AP is the area
under the interpolated precision-recall curve (all points). Recall and precision are also
reported at an operating threshold (the site file's ``model.confidence``).

Example:
    >>> report = evaluate_folder(detector, Path("heldout"), conf=0.3)  # doctest: +SKIP
    >>> report["map50"], report["per_class"]["motorcycle"]["recall"]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from models.classes import VehicleClass
from models.dataset import TWIN_CLASSES
from models.detections import Detections
from models.errors import ModelError

F32 = npt.NDArray[np.float32]


class _Detects(Protocol):
    def detect(self, image: npt.NDArray[np.uint8]) -> Detections: ...


def iou_matrix(a: F32, b: F32) -> npt.NDArray[np.float64]:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes.

    Example:
        >>> iou_matrix(np.array([[0, 0, 2, 2]], np.float32), np.array([[1, 0, 3, 2]], np.float32)).round(3).tolist()
        [[0.333]]
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    x1 = np.maximum(a64[:, None, 0], b64[None, :, 0])
    y1 = np.maximum(a64[:, None, 1], b64[None, :, 1])
    x2 = np.minimum(a64[:, None, 2], b64[None, :, 2])
    y2 = np.minimum(a64[:, None, 3], b64[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a64[:, 2] - a64[:, 0]) * (a64[:, 3] - a64[:, 1])
    area_b = (b64[:, 2] - b64[:, 0]) * (b64[:, 3] - b64[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.asarray(np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0), dtype=np.float64)


#: Box-height bands (pixels) for recall by apparent size: far, middle distance, near.
HEIGHT_BANDS: tuple[tuple[str, float, float], ...] = (("h<16", 0.0, 16.0), ("16<=h<48", 16.0, 48.0), ("h>=48", 48.0, 1e9))


@dataclass
class _ClassStats:
    scores: list[float] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    n_truth: int = 0
    truth_h: list[float] = field(default_factory=list)
    truth_score: list[float] = field(default_factory=list)  # score of the matching prediction, -1 if none


class Scorer:
    """Accumulates matches over images; pure, no I/O.

    Example:
        >>> s = Scorer()
        >>> truth = Detections(np.array([[0, 0, 10, 10]], np.float32), np.ones(1, np.float32), np.array([0]))
        >>> s.add(truth, truth)
        >>> s.report(conf=0.5)["per_class"]["car"]["recall"]
        1.0
    """

    def __init__(self, classes: Iterable[VehicleClass] = TWIN_CLASSES, iou: float = 0.5) -> None:
        self.classes = tuple(classes)
        self.iou = iou
        self._stats = {c: _ClassStats() for c in self.classes}
        self.images = 0

    def add(self, pred: Detections, truth: Detections) -> None:
        """Match one image's predictions to its ground truth, class by class."""
        self.images += 1
        for c in self.classes:
            st = self._stats[c]
            t = truth.xyxy[truth.class_id == int(c)]
            pm = pred.class_id == int(c)
            p, sc = pred.xyxy[pm], pred.confidence[pm]
            st.n_truth += len(t)
            st.truth_h.extend((t[:, 3] - t[:, 1]).tolist())
            matched = np.full(len(t), -1.0)
            if len(p) == 0:
                st.truth_score.extend(matched.tolist())
                continue
            order = np.argsort(-sc, kind="stable")
            taken = np.zeros(len(t), dtype=bool)
            ious = iou_matrix(p[order], t) if len(t) else np.zeros((len(p), 0))
            for k, i in enumerate(order.tolist()):
                hit = False
                if len(t):
                    cand = np.where(taken, -1.0, ious[k])
                    j = int(np.argmax(cand))
                    if cand[j] >= self.iou:
                        taken[j] = True
                        matched[j] = float(sc[i])
                        hit = True
                st.scores.append(float(sc[i]))
                st.hits.append(hit)
            # Greedy by score, so the matches at a threshold are those of the predictions above it.
            st.truth_score.extend(matched.tolist())

    def report(self, conf: float) -> dict[str, Any]:
        """AP50 per class and mean, plus precision and recall at score >= ``conf`` (also by box height)."""
        per: dict[str, dict[str, Any]] = {}
        aps = []
        bands: dict[str, list[bool]] = {name: [] for name, _, _ in HEIGHT_BANDS}
        for c, st in self._stats.items():
            if st.n_truth == 0:
                continue
            scores = np.asarray(st.scores)
            hits = np.asarray(st.hits, dtype=bool)
            order = np.argsort(-scores, kind="stable")
            tp = np.cumsum(hits[order])
            fp = np.cumsum(~hits[order])
            recall = tp / st.n_truth if len(tp) else np.zeros(0)
            precision = tp / np.maximum(tp + fp, 1) if len(tp) else np.zeros(0)
            ap = _average_precision(recall, precision)
            aps.append(ap)
            sel = scores >= conf
            n_tp = int(hits[sel].sum())
            n_det = int(sel.sum())
            heights = np.asarray(st.truth_h)
            found = np.asarray(st.truth_score) >= conf
            by_height = {}
            for name, lo, hi in HEIGHT_BANDS:
                sel_h = (heights >= lo) & (heights < hi)
                bands[name].extend(found[sel_h].tolist())
                by_height[name] = round(float(found[sel_h].mean()), 4) if sel_h.any() else None
            per[c.label] = {
                "truth": st.n_truth,
                "recall_by_height": by_height,
                "ap50": round(ap, 4),
                "recall": round(n_tp / st.n_truth, 4),
                "precision": round(n_tp / n_det, 4) if n_det else 0.0,
            }
        return {
            "images": self.images,
            "iou": self.iou,
            "conf": conf,
            "map50": round(float(np.mean(aps)), 4) if aps else 0.0,
            "recall_by_height": {k: (round(float(np.mean(v)), 4) if v else None) for k, v in bands.items()},
            "per_class": per,
        }


def _average_precision(recall: npt.NDArray[np.float64], precision: npt.NDArray[np.float64]) -> float:
    """Area under the precision envelope (all-point interpolation)."""
    if len(recall) == 0:
        return 0.0
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def read_yolo_folder(folder: Path, split: str = "val") -> Iterator[tuple[npt.NDArray[np.uint8], Detections]]:
    """Images and their labels (as :class:`Detections` in pixels) from a YOLO-format dataset."""
    images = sorted((folder / "images" / split).glob("*.jpg"))
    if not images:
        raise ModelError(f"no images in {folder / 'images' / split}")
    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            raise ModelError(f"cannot read {path}")
        h, w = image.shape[:2]
        label = folder / "labels" / split / f"{path.stem}.txt"
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()] if label.is_file() else []
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        cls = np.asarray([int(TWIN_CLASSES[int(k)]) for k in arr[:, 0]], dtype=np.int64)
        cx, cy, bw, bh = arr[:, 1] * w, arr[:, 2] * h, arr[:, 3] * w, arr[:, 4] * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
        yield np.asarray(image, dtype=np.uint8), Detections(xyxy, np.ones(len(cls), np.float32), cls)


def evaluate_folder(detector: _Detects, folder: Path, split: str = "val", conf: float = 0.3) -> dict[str, Any]:
    """Run ``detector`` (set to a low confidence floor, e.g. 0.01) over a folder and score it."""
    scorer = Scorer()
    for image, truth in read_yolo_folder(folder, split):
        scorer.add(detector.detect(image), truth)
    return scorer.report(conf)
