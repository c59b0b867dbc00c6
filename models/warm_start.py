"""A training checkpoint rebuilt from a Simpang ONNX export, to fine-tune or continue training it.

The committed model is an ONNX file; the Ultralytics checkpoint it was exported from is not kept
(it holds the same weights at four times the size). ``simpang model train --init MODEL.onnx``
rebuilds one: the export keeps each layer's parameter names, so every weight finds its place in
the same architecture built from its YAML. Export folds each batch-norm into the convolution
before it, so the rebuilt batch-norms must reproduce "the folded convolution, unchanged":

* in evaluation mode, with running statistics ``mean m, var s^2``, weight ``sqrt(s^2 + eps)`` and
  bias ``m + b`` (``b`` the folded bias), a batch-norm maps ``z`` to ``z + b`` exactly;
* in training mode it normalises with the *batch's* statistics instead, so ``m`` and ``s`` are
  measured: the per-channel mean and spread of each convolution's output on real training images.
  Training then starts from the exported model's behaviour, not from a network whose every
  layer was suddenly renormalised.

Needs the ``train`` extra (PyTorch, Ultralytics), like the rest of training.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from models.errors import ModelError
from models.letterbox import Letterbox, LetterboxSpec

log = logging.getLogger(__name__)

#: Images whose activations set the batch-norm statistics (more change them by well under 1 %).
CALIBRATION_IMAGES = 32


def onnx_weights(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """The named float initializers of an ONNX model (its parameters, by their PyTorch names)."""
    import onnx  # noqa: PLC0415 (train extra)
    from onnx import numpy_helper  # noqa: PLC0415

    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:  # onnx raises several kinds for a bad file
        raise ModelError(f"cannot read ONNX model {path}: {err}") from None
    return {
        init.name: numpy_helper.to_array(init).astype(np.float32)
        for init in graph.initializer
        if init.name.startswith("model.")
    }


def onnx_names(path: Path) -> dict[int, str]:
    """The class names an Ultralytics export wrote in its metadata (``{0: 'car', ...}``)."""
    import onnx  # noqa: PLC0415 (train extra)

    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    try:
        names = ast.literal_eval(meta["names"])
    except (KeyError, ValueError, SyntaxError):
        raise ModelError(f"{path} names no classes in its metadata: not an Ultralytics export") from None
    if not isinstance(names, dict):
        raise ModelError(f"{path}: its class names are not a mapping")
    return {int(k): str(v) for k, v in names.items()}


def rebuild(model: Any, weights: dict[str, npt.NDArray[np.float32]], images: Sequence[npt.NDArray[np.float32]]) -> None:
    """Load folded ``weights`` into ``model`` (an Ultralytics DetectionModel) and calibrate its batch-norms.

    Raises:
        ModelError: the weights do not fit the architecture (another layout or scale).
    """
    import torch  # noqa: PLC0415 (train extra)

    folded: dict[str, tuple[Any, Any]] = {}  # module name -> (conv, bn) of every conv + batch-norm pair
    for name, module in model.named_modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
            folded[name] = (conv, bn)
    state = model.state_dict()
    used: set[str] = set()
    with torch.no_grad():
        for name, (conv, bn) in folded.items():
            w, b = _take(weights, f"{name}.conv.weight", conv.weight.shape, used), _take(weights, f"{name}.conv.bias", (conv.out_channels,), used)
            conv.weight.copy_(torch.from_numpy(w))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # z + b exactly until calibrated
        for key, tensor in state.items():  # plain convolutions (the heads' last layers, DFL)
            if key in weights and key not in used and tensor.is_floating_point():
                tensor.copy_(torch.from_numpy(_take(weights, key, tuple(tensor.shape), used)))
    left = sorted(set(weights) - used)
    if left:
        raise ModelError(f"the ONNX model has weights this architecture lacks: {', '.join(left[:5])}")
    missing = [k for k in state if k.endswith(".weight") and k not in used and not _is_bn(k, folded)]
    if missing:
        raise ModelError(f"the ONNX model lacks weights for: {', '.join(missing[:5])}")
    _calibrate(model, folded, images)


def _is_bn(key: str, folded: dict[str, tuple[Any, Any]]) -> bool:
    return key.endswith(".bn.weight") and key[: -len(".bn.weight")] in folded


def _take(weights: dict[str, npt.NDArray[np.float32]], key: str, shape: Sequence[int], used: set[str]) -> npt.NDArray[np.float32]:
    if key not in weights:
        raise ModelError(f"the ONNX model has no weight {key}: it was not exported from this architecture")
    value = weights[key]
    if tuple(value.shape) != tuple(shape):
        raise ModelError(f"weight {key} is {tuple(value.shape)} in the ONNX model, {tuple(shape)} here: another scale?")
    used.add(key)
    return value


def _calibrate(model: Any, folded: dict[str, tuple[Any, Any]], images: Sequence[npt.NDArray[np.float32]]) -> None:
    """Set each batch-norm's statistics to its convolution's measured output (see the module text)."""
    import torch  # noqa: PLC0415

    if not images:
        raise ModelError("calibration needs at least one training image")
    outputs: dict[str, list[Any]] = {name: [] for name in folded}
    hooks = [
        conv.register_forward_hook(lambda _m, _i, out, name=name: outputs[name].append(out.detach()))
        for name, (conv, _bn) in folded.items()
    ]
    model.eval()
    try:
        with torch.no_grad():
            for image in images:
                model(torch.from_numpy(image)[None])
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        for name, (_conv, bn) in folded.items():
            z = torch.cat([o.transpose(0, 1).reshape(o.shape[1], -1) for o in outputs[name]], dim=1)
            mean, var = z.mean(dim=1), z.var(dim=1, unbiased=False)
            bias = bn.bias.clone()  # the folded bias, set by rebuild
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + bias)


def calibration_images(image_dirs: Sequence[Path], hw: tuple[int, int], count: int = CALIBRATION_IMAGES) -> list[npt.NDArray[np.float32]]:
    """``count`` images spread over ``image_dirs``, as the network's CHW RGB 0..1 input of size ``hw``."""
    paths = sorted(p for folder in image_dirs for p in folder.glob("*.jpg"))
    if not paths:
        raise ModelError(f"no training images in {', '.join(map(str, image_dirs))}")
    step = max(1, len(paths) // count)
    box = Letterbox(LetterboxSpec(size=(hw[1], hw[0]), rgb=True, scale=1 / 255, centre=True))
    out = []
    for path in paths[::step][:count]:
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise ModelError(f"cannot read image {path}")
        tensor, _meta = box(np.asarray(bgr, dtype=np.uint8))
        out.append(np.array(tensor[0], dtype=np.float32))
    return out


def checkpoint_from_onnx(onnx_path: Path, architecture_yaml: Path, image_dirs: Sequence[Path], hw: tuple[int, int], out: Path) -> Path:
    """Write an Ultralytics checkpoint at ``out`` holding ``onnx_path``'s weights in ``architecture_yaml``'s layout."""
    from models.train import ultralytics_module  # noqa: PLC0415 (train extra)

    yolo = ultralytics_module().YOLO(str(architecture_yaml))
    rebuild(yolo.model, onnx_weights(onnx_path), calibration_images(image_dirs, hw))
    yolo.model.names = onnx_names(onnx_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    yolo.save(str(out))
    log.info("rebuilt a training checkpoint from %s at %s", onnx_path, out)
    return out
