"""Write-path throughput of the central stores: ``Store.ingest`` of realistic aggregate batches.

This is the store's share of the end-to-end ingest target (the transport's ``simpang central
bench`` measures edge publisher -> committed row). Messages are pre-encoded so the figure is
the store alone: per batch, one durable commit (SQLite WAL + fsync; PostgreSQL synchronous commit).

Run: ``python -m benchmarks.store_ingest [--messages 100000] [--batch 1000] [--pg URL]``; prints
messages/s and batch commit latency per backend and writes ``benchmarks/results/store_ingest.json``.
PostgreSQL runs in a scratch database that is dropped afterwards (skipped if unreachable).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from central.errors import StoreError
from central.store import open_store
from edge.hostinfo import machine
from edge.messages import Aggregate, ApproachMeasures, Envelope, LineCount, MovementCount, encode

RESULTS = Path(__file__).resolve().parent / "results"
T0 = 1_767_225_600.0


def make_messages(n: int, sites: int) -> tuple[list[Envelope], list[bytes]]:
    """``n`` one-minute aggregates of a four-approach intersection, spread over ``sites`` sites."""
    envs = []
    for i in range(n):
        site, seq = f"site-{i % sites:03d}", i // sites
        envs.append(Envelope(site=site, seq=seq, sent_at=T0 + 60 * seq + 0.5, body=Aggregate(
            start=T0 + 60 * seq, duration_s=60.0,
            lines=[LineCount(line=f"{a}_stop", direction="in", counts={"car": 9, "motorcycle": 31, "bus": 1})
                   for a in ("north", "south")],
            movements=[MovementCount(movement="n_through", counts={"car": 7, "motorcycle": 25})],
            approaches=[ApproachMeasures(approach=a, arrivals={"car": 9, "motorcycle": 31}, flow_pcu_h=1100.0,
                                         occupancy=0.31, queue_veh_mean=4.2, queue_veh_max=9.0, speed_mps_mean=7.5)
                        for a in ("north", "south", "east", "west")],
        )))
    return envs, [encode(e) for e in envs]


def measure(url: str, envs: list[Envelope], frames: list[bytes], batch: int) -> dict[str, Any]:
    """Ingest everything once (timed), then once more (all duplicates, timed)."""
    store = open_store(url)
    try:
        lat: list[float] = []
        t0 = time.perf_counter()
        new = 0
        for i in range(0, len(envs), batch):
            b0 = time.perf_counter()
            new += store.ingest(envs[i : i + batch], frames[i : i + batch])
            lat.append(time.perf_counter() - b0)
        elapsed = time.perf_counter() - t0
        assert new == len(envs), f"stored {new} of {len(envs)}"
        t1 = time.perf_counter()
        dup = sum(store.ingest(envs[i : i + batch], frames[i : i + batch]) for i in range(0, len(envs), batch))
        dup_elapsed = time.perf_counter() - t1
        assert dup == 0, f"{dup} duplicates stored"
    finally:
        store.close()
    lat.sort()
    return {
        "messages": len(envs), "batch": batch,
        "msgs_per_s": round(len(envs) / elapsed),
        "resend_msgs_per_s": round(len(envs) / dup_elapsed),
        "batch_commit_ms_p50": round(1000 * statistics.median(lat), 2),
        "batch_commit_ms_p99": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2),
        "frame_bytes": round(statistics.mean(len(f) for f in frames)),
    }




def main() -> int:
    """Measure SQLite and (if reachable) PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=1, help="sites the messages are spread over")
    parser.add_argument("--pg", default=os.environ.get("SIMPANG_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="admin URL of a PostgreSQL server ('' to skip)")
    args = parser.parse_args()
    envs, frames = make_messages(args.messages, args.sites)
    results: dict[str, Any] = {"benchmark": "store_ingest", "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.db", envs, frames, args.batch)
    print("sqlite    ", json.dumps(results["sqlite"]))
    if args.pg:
        import psycopg  # noqa: PLC0415 - optional extra

        name = f"simpang_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = psycopg.connect(args.pg, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as err:
            print(f"postgresql: skipped ({' '.join(str(err).split())})")
        else:
            with admin:
                admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    results["postgresql"] = measure(f"{args.pg.rsplit('/', 1)[0]}/{name}", envs, frames, args.batch)
                except StoreError as err:
                    print(f"postgresql: {err}")
                finally:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if "postgresql" in results:
                print("postgresql", json.dumps(results["postgresql"]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "store_ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
