"""The edge-central link protocol over ZeroMQ DEALER (edge) / ROUTER (central) sockets.

Multipart messages, the first frame naming the kind (never pickle; every payload is JSON):

* edge -> central ``[DATA, batch, ...]``: each ``batch`` frame holds encoded
  :class:`~edge.messages.Envelope` JSON documents separated by ``\n`` (compact JSON never contains
  a raw newline). One frame per batch instead of one per message saves most of ZeroMQ's per-frame
  cost, and each line is still decoded on its own, so one bad message never spoils its neighbours.
* central -> edge ``[ACK, json]``: ``{"acked": [[first, last], ...], "rejected": [[seq, reason], ...]}``.
  ``acked`` lists inclusive seq ranges that are durably stored (new or duplicates); ``rejected``
  lists messages central could read a seq from but will not store (for instance a newer wire
  version): the edge keeps them spooled and retries them after the next reconnect.
* central -> edge ``[PUSH, env]``: one encoded envelope whose body is a
  :class:`~edge.messages.ConfigPush`; the edge answers with a spooled, acknowledged
  :class:`~edge.messages.ConfigAck` on the data path.

Both ends run ZMTP heartbeats so a dead peer is noticed in seconds, not at the next TCP timeout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from edge.errors import LinkError

DATA = b"D1"
ACK = b"A1"
PUSH = b"P1"

#: ZMTP heartbeat: ping every HEARTBEAT_MS, drop the connection after HEARTBEAT_TIMEOUT_MS of silence.
HEARTBEAT_MS = 1000
HEARTBEAT_TIMEOUT_MS = 4000


def ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Compress sequence numbers into sorted inclusive ``[first, last]`` ranges.

    Example:
        >>> ranges([5, 1, 2, 3, 7, 6])
        [[1, 3], [5, 7]]
    """
    unique = set(seqs)
    if not unique:
        return []
    lo, hi = min(unique), max(unique)
    if hi - lo == len(unique) - 1:
        return [[lo, hi]]  # the usual ack: one unbroken run, found without sorting or a Python loop
    out: list[list[int]] = []
    for s in sorted(unique):
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def encode_ack(acked: Iterable[int], rejected: Sequence[tuple[int, str]] = ()) -> bytes:
    """The JSON payload of an ``ACK`` message."""
    return json.dumps({"acked": ranges(acked), "rejected": [[s, r] for s, r in rejected]}).encode()


def decode_ack(payload: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
    """Parse an ``ACK`` payload into acked ranges and rejected ``(seq, reason)``.

    Raises:
        ValueError: the payload is not a well-formed ack.
    """
    doc: Any = json.loads(payload)
    if not isinstance(doc, dict):
        raise ValueError("ack is not a JSON object")
    acked = [(int(lo), int(hi)) for lo, hi in doc.get("acked", [])]
    rejected = [(int(s), str(r)) for s, r in doc.get("rejected", [])]
    return acked, rejected


def set_common_options(sock: zmq.Socket[Any]) -> None:
    """Options both ends share: no lingering on close, heartbeats, bounded reconnect back-off."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def load_key_pair(path: str | Path) -> tuple[bytes, bytes]:
    """Read a CurveZMQ secret key file (as ``simpang central keys create`` writes) -> (public, secret).

    Raises:
        LinkError: the file is missing, unreadable, or holds no secret key.
    """
    p = Path(path)
    if not p.is_file():
        raise LinkError(f"{p}: key file not found")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as err:
        raise LinkError(f"{p}: not a CurveZMQ key file: {err}") from None
    if secret is None:
        raise LinkError(f"{p}: holds only a public key; the edge needs its secret key file")
    return public, secret


def check_z85_key(key: str | bytes, what: str) -> bytes:
    """A Z85 CurveZMQ key as bytes, or :class:`LinkError` naming ``what`` if it is not one."""
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) != 40:
        raise LinkError(f"{what} must be a 40-character Z85 CurveZMQ key, got {len(raw)} characters")
    try:
        zmq.utils.z85.decode(raw)
    except (ValueError, KeyError, IndexError):
        raise LinkError(f"{what} is not valid Z85") from None
    return raw
