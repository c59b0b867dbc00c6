"""Fuzz: more than 10,000 malformed frames while a real edge keeps publishing; nothing valid is lost."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import zmq

from central.ingest import MAX_MESSAGES_PER_DATA, IngestServer
from central.store import Store
from edge.link import ACK, DATA, PUSH
from edge.messages import MAX_MESSAGE_BYTES, Health, encode
from edge.publish import LinkSettings, Publisher
from edge.spool import Spool
from tests.central import factories
from tests.central.test_ingest import stored_seqs, wait_for


def _bad_frames(rng: random.Random, n: int) -> list[bytes]:
    good = encode(factories.aggregate("fuzz", 1, 1.7e9))
    doc = json.loads(good)
    out: list[bytes] = []
    for i in range(n):
        pick = i % 6
        if pick == 0:  # garbage
            out.append(rng.randbytes(rng.randint(0, 300)))
        elif pick == 1:  # truncated
            out.append(good[: rng.randint(0, len(good) - 1)])
        elif pick == 2:  # wrong version
            out.append(json.dumps({**doc, "v": rng.choice([0, 2, 99, "1", None])}).encode())
        elif pick == 3:  # valid JSON, not an envelope
            broken = dict(doc)
            key = rng.choice(["site", "seq", "sent_at", "body"])
            broken[key] = rng.choice([None, "", [], {"kind": "nope"}, "x" * 100])
            out.append(json.dumps(broken).encode())
        elif pick == 4:  # JSON that is not an object
            out.append(json.dumps(rng.choice([[], 1, "s", None, [doc]])).encode())
        else:  # an extra field, or a body of the wrong shape
            out.append(json.dumps({**doc, "extra": 1} if rng.random() < 0.5 else {**doc, "body": {"kind": "health"}}).encode())
    return out


def test_malformed_frames_are_counted_and_dropped_while_valid_traffic_flows(
    tmp_path: Path, sqlite_store: Store
) -> None:
    rng = random.Random(20261123)
    with IngestServer("tcp://127.0.0.1:*", sqlite_store) as server:
        spool = Spool(tmp_path / "s.sqlite", site="good-site")
        pub = Publisher(spool, LinkSettings(server.endpoint, batch=50))
        pub.start()
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            fuzz: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
            fuzz.setsockopt(zmq.LINGER, 0)
            fuzz.setsockopt(zmq.SNDHWM, 0)
            fuzz.connect(server.endpoint)
            expected = 0
            published = 0
            for round_ in range(100):
                frames = _bad_frames(rng, 100)
                fuzz.send_multipart([DATA, *frames])  # one bad message per frame...
                expected += sum(len(f.split(b"\n")) for f in frames)  # ...or per line, for garbage with newlines
                fuzz.send_multipart([DATA, b"\n".join(frames[:50])])  # ...and many per frame, as edges send
                expected += sum(len(f.split(b"\n")) for f in frames[:50])
                # Wrong multipart shapes: each counts once.
                shape = [[b""], [DATA], [b"XX", frames[0]], [ACK, b"{}"], [PUSH, frames[1]], [rng.randbytes(3), b"", b""]]
                fuzz.send_multipart(shape[round_ % len(shape)])
                expected += 1
                published += len(pub.publish_many([Health(uptime_s=float(round_))] * 10))
            huge = [b"{" + b" " * MAX_MESSAGE_BYTES + b"}", b"x" * (MAX_MESSAGE_BYTES + 1)]
            fuzz.send_multipart([DATA, *huge])
            expected += sum(len(f.split(b"\n")) for f in huge)
            fuzz.send_multipart([DATA, *([b"{}"] * (MAX_MESSAGES_PER_DATA + 1))])
            expected += MAX_MESSAGES_PER_DATA + 1
            wait_for(lambda: sum(server.stats().rejected.values()) >= expected, timeout_s=60.0)

            # A message far beyond the socket's size limit: ZeroMQ drops that connection, nothing else.
            brute: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
            brute.setsockopt(zmq.LINGER, 0)
            brute.connect(server.endpoint)
            brute.send_multipart([DATA, b"x" * (MAX_MESSAGE_BYTES * 17)])

            published += len(pub.publish_many([Health(uptime_s=1.0)] * 100))  # after the storm
            assert pub.wait_drained(30.0)
            rejected = server.stats().rejected
            assert sum(rejected.values()) == expected >= 10_000
            assert {"malformed", "wrong_version", "invalid", "oversized", "bad_shape", "too_many_messages"} <= set(rejected)
            assert stored_seqs(sqlite_store, "good-site") == list(range(1, published + 1))
            assert stored_seqs(sqlite_store, "fuzz") == []
        finally:
            pub.stop()
            spool.close()
            ctx.destroy(linger=0)
