"""Models Simpang knows by name, where they come from, and where a download is kept.

A site file may name a known model (``model: {path: yolox-nano}``) instead of a file; it is then
looked up in the model cache (``$SIMPANG_MODELS``, default ``~/.cache/simpang/models``), where
``simpang model fetch`` puts it after checking its SHA-256. Nothing is ever downloaded at run time.

Example:
    >>> KNOWN_MODELS["yolox-nano"].filename
    'yolox_nano.onnx'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelLoadError, UnknownModelError


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A released model file Simpang can fetch and verify."""

    name: str
    url: str
    sha256: str
    filename: str
    licence: str
    description: str


KNOWN_MODELS: dict[str, KnownModel] = {
    "yolox-nano": KnownModel(
        name="yolox-nano",
        url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        sha256="e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
        filename="yolox_nano.onnx",
        licence="Apache-2.0",
        description="YOLOX-nano, COCO, 416x416, raw head outputs (Megvii release 0.1.1rc0)",
    ),
}


def cache_dir() -> Path:
    """Where fetched models are kept."""
    env = os.environ.get("SIMPANG_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "simpang" / "models"


def resolve_model(value: str, base_dir: Path | None = None) -> Path:
    """The model file for a config value: a path (relative to ``base_dir``) or a known model name.

    Raises:
        ModelLoadError: neither an existing file nor a fetched known model.
    """
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.exists() or value not in KNOWN_MODELS:
        return path
    cached = cache_dir() / KNOWN_MODELS[value].filename
    if cached.is_file():
        return cached
    raise ModelLoadError(f"model {value!r} is not downloaded yet: run `simpang model fetch {value}`")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


ProgressHook = Callable[[int, int | None], None]


def fetch(
    name: str, dest: Path | None = None, *, url: str | None = None, progress: ProgressHook | None = None
) -> Path:
    """Download a known model into ``dest`` (default: the cache), verify its SHA-256, return its path.

    The file is written under a temporary name in ``dest`` and renamed only once its hash
    matches, so a failed or tampered download leaves nothing behind.

    Raises:
        UnknownModelError: ``name`` is not a known model.
        ModelLoadError: the download fails or its hash does not match.
    """
    if name not in KNOWN_MODELS:
        raise UnknownModelError(f"unknown model {name!r} (known: {', '.join(KNOWN_MODELS)})")
    known = KNOWN_MODELS[name]
    dest = dest or cache_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelLoadError(f"{dest}: cannot create the model folder: {err.strerror or err}") from None
    source = url or known.url
    target = dest / known.filename
    fd, tmp_name = tempfile.mkstemp(prefix=f".{known.filename}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            while block := resp.read(1 << 16):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        if digest.hexdigest() != known.sha256:
            raise ModelLoadError(
                f"{source}: SHA-256 {digest.hexdigest()} does not match the expected {known.sha256}; file refused"
            )
        shutil.move(str(tmp), target)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise ModelLoadError(f"{source}: download failed: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
