"""CurveZMQ key pairs for central and each edge box, and the ZAP handler that admits only listed keys.

A key folder looks like this (``simpang central keys create NAME`` makes it)::

    KEYS/central.key             central's public key (give it to every edge box)
    KEYS/central.key_secret      central's secret key (stays on central, mode 0600)
    KEYS/public/NAME.key         the public key of edge box NAME: its presence admits the box
    KEYS/private/NAME.key_secret the secret key of edge box NAME: copy it to the box, then delete it

An edge box is admitted while ``public/NAME.key`` exists; removing the file revokes it for every
new connection (the folder is re-read when it changes). The box's messages must carry site id NAME:
a box can publish for its own site only.

Example:
    >>> import tempfile
    >>> keys = KeyFolder(tempfile.mkdtemp())
    >>> pair = keys.create("site-a")
    >>> sorted(keys.admitted().values())
    ['site-a']
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from central.errors import KeyFileError

log = logging.getLogger(__name__)

SERVER_NAME = "central"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class KeyInfo:
    """One key pair as listed by ``simpang central keys list``."""

    name: str
    public_key: str
    public_file: Path
    secret_file: Path | None
    server: bool


class KeyFolder:
    """The key folder of a central service (see the module docstring for its layout).

    Args:
        root: the folder; created on the first :meth:`create`.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.public_dir = self.root / "public"
        self.private_dir = self.root / "private"
        self._cache: tuple[float, dict[bytes, str]] | None = None

    def create(self, name: str) -> KeyInfo:
        """Create the key pair of edge box ``name`` (and central's pair if it has none yet).

        Raises:
            KeyFileError: the name is not a valid id, or a key of that name exists already.
        """
        if not _NAME.match(name) or name == SERVER_NAME:
            raise KeyFileError(f"key name {name!r} must be a site id (letters, digits, _.-; not {SERVER_NAME!r})")
        self.ensure_server()
        if (self.public_dir / f"{name}.key").exists():
            raise KeyFileError(f"a key named {name!r} exists already in {self.public_dir}")
        try:
            self.public_dir.mkdir(parents=True, exist_ok=True)
            self.private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            public_file, secret_file = zmq.auth.create_certificates(self.private_dir, name)
            os.chmod(secret_file, 0o600)
            Path(public_file).replace(self.public_dir / f"{name}.key")
        except OSError as err:
            raise KeyFileError(f"cannot write keys in {self.root}: {err}") from None
        self._cache = None
        return self._info(name, self.public_dir / f"{name}.key", Path(secret_file), server=False)

    def ensure_server(self) -> KeyInfo:
        """Central's own key pair, created if absent."""
        public_file = self.root / f"{SERVER_NAME}.key"
        secret_file = self.root / f"{SERVER_NAME}.key_secret"
        if not secret_file.exists():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                zmq.auth.create_certificates(self.root, SERVER_NAME)
                os.chmod(secret_file, 0o600)
            except OSError as err:
                raise KeyFileError(f"cannot write keys in {self.root}: {err}") from None
        return self._info(SERVER_NAME, public_file, secret_file, server=True)

    def server_pair(self) -> tuple[bytes, bytes]:
        """Central's (public, secret) key pair.

        Raises:
            KeyFileError: the folder has no server key (run ``simpang central keys create``).
        """
        secret_file = self.root / f"{SERVER_NAME}.key_secret"
        if not secret_file.is_file():
            raise KeyFileError(f"{secret_file}: central's secret key is missing (run 'simpang central keys create NAME')")
        public, secret = _load(secret_file)
        if secret is None:
            raise KeyFileError(f"{secret_file}: holds no secret key")
        return public, secret

    def admitted(self) -> dict[bytes, str]:
        """Admitted edge public keys (Z85 bytes) -> names; re-read when the folder changes."""
        try:
            stamp = self.public_dir.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        keys: dict[bytes, str] = {}
        for path in sorted(self.public_dir.glob("*.key")):
            try:
                public, _ = _load(path)
            except KeyFileError as err:
                log.error("skipping unreadable public key: %s", err)
                continue
            keys[public] = path.stem
        self._cache = (stamp, keys)
        return keys

    def list(self) -> list[KeyInfo]:
        """Central's key (if any) and every admitted edge key, by name."""
        out: list[KeyInfo] = []
        server_public = self.root / f"{SERVER_NAME}.key"
        if server_public.is_file():
            out.append(self._info(SERVER_NAME, server_public, self.root / f"{SERVER_NAME}.key_secret", server=True))
        for path in sorted(self.public_dir.glob("*.key")) if self.public_dir.is_dir() else []:
            out.append(self._info(path.stem, path, self.private_dir / f"{path.stem}.key_secret", server=False))
        return out

    @staticmethod
    def _info(name: str, public_file: Path, secret_file: Path, server: bool) -> KeyInfo:
        public, _ = _load(public_file)
        return KeyInfo(name, public.decode("ascii"), public_file, secret_file if secret_file.exists() else None, server)


def _load(path: Path) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as err:
        raise KeyFileError(f"{path}: not a CurveZMQ key file: {err}") from None


class KeyAuthenticator(ThreadAuthenticator):
    """ZAP handler admitting only the keys in a :class:`KeyFolder`, logging every refusal.

    The ZMQ ``User-Id`` of an admitted connection is the key's name, which ingest compares with
    the site id of every message.
    """

    def __init__(self, context: zmq.Context[Any], keys: KeyFolder) -> None:
        super().__init__(context, log=logging.getLogger(__name__ + ".zap"))
        self.keys = keys
        self.refused = 0
        self.configure_curve_callback("*", credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP credentials check: is this Z85 client key listed?"""
        if key in self.keys.admitted():
            return True
        self.refused += 1
        log.warning("refused a CurveZMQ client with unknown public key %s (domain %r)", key.decode("ascii", "replace"), domain)
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The admitted key's name (its site id)."""
        return self.keys.admitted().get(zmq.utils.z85.encode(client_public_key), "unknown")
