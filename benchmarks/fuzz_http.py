"""HTTP fuzz of the central API: schemathesis cases from the OpenAPI spec, no 5xx allowed.

Every operation is driven with schema-valid (positive) and schema-violating (negative) cases,
as an admin (so requests get past auth and reach the handlers), with the site path parameter
pinned to a site that has data (so they reach the store), and without a valid token. Any 5xx
response or exception is a failure.

Run: ``python -m benchmarks.fuzz_http [--requests 10000] [--seed 1] [--db postgresql://...]``; prints a summary and writes
``benchmarks/results/fuzz_http.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from central.app import create_app
from central.auth import hash_token, new_token
from central.settings import Settings
from central.store import Store, open_store
from controller.config import PhaseConfig, SignalConfig
from edge.hostinfo import machine
from edge.messages import (
    Aggregate,
    ApproachMeasures,
    ConfigAck,
    Envelope,
    Events,
    Health,
    HiResEvent,
    LineCount,
)

RESULTS = Path(__file__).resolve().parent / "results"
SITE = "s1"
T0 = 1_767_225_600.0


@dataclass
class FuzzReport:
    """What the fuzz run saw."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    per_operation: Counter[str] = field(default_factory=Counter)


def seed_store(store: Store) -> None:
    """Give the fuzzed API something to read: aggregates, events, health, an applied plan."""
    envs = [
        Envelope(site=SITE, seq=i, sent_at=T0 + 60 * i, body=Aggregate(
            start=T0 + 60 * i, duration_s=60.0,
            lines=[LineCount(line="l1", direction="in", counts={"car": 3, "motorcycle": 9})],
            approaches=[ApproachMeasures(approach="north", arrivals={"car": 3}, queue_veh_mean=2.0, speed_mps_mean=7.0)],
        ))
        for i in range(60)
    ]
    envs.append(Envelope(site=SITE, seq=100, sent_at=T0, body=Health(uptime_s=1.0, phase=[2], queues={"north": 3.0})))
    envs.append(Envelope(site=SITE, seq=101, sent_at=T0, body=Events(events=[
        HiResEvent(ts=T0 + k, code=c, param=2) for k, c in enumerate((1, 82, 81, 4, 8, 10))
    ])))
    store.ingest(envs)
    sig = SignalConfig(
        phases=[PhaseConfig(id=2, name="ns", movements=["a"]), PhaseConfig(id=4, name="ew", movements=["b"])],
        conflicts=[(2, 4)], stages=[[2], [4]],
    )
    store.propose_plan(SITE, sig.model_dump_json(), "seed", "")
    store.queue_plan(SITE, 1, "seed")
    store.ingest([Envelope(site=SITE, seq=102, sent_at=T0, body=ConfigAck(version=1, applied=True))])


def run_fuzz(app: Any, admin_token: str, examples: int, rng_seed: int = 1) -> FuzzReport:
    """Fuzz every operation of ``app`` with ``examples`` cases per (operation, mode) pass."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    good = {"Authorization": f"Bearer {admin_token}"}
    passes: list[tuple[str, GenerationMode, dict[str, str], bool]] = [
        ("positive", GenerationMode.POSITIVE, good, False),
        ("positive-site", GenerationMode.POSITIVE, good, True),
        ("negative", GenerationMode.NEGATIVE, good, False),
        ("negative-site", GenerationMode.NEGATIVE, good, True),
        ("bad-token", GenerationMode.POSITIVE, {"Authorization": "Bearer spg_forged"}, True),
    ]
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise RuntimeError(f"the OpenAPI schema has an invalid operation: {result.err()}")
        op = result.ok()
        for name, mode, headers, pin_site in passes:
            pinned = {"site": SITE} if pin_site and "{site}" in op.path else None
            if pin_site and pinned is None and name != "bad-token":
                continue
            strategy = op.as_strategy(generation_mode=mode, path_parameters=pinned)

            _drive(strategy, headers, f"{op.label} [{name}]", report, examples, rng_seed)
    return report


def _drive(  # noqa: PLR0917
    strategy: Any, headers: dict[str, str], label: str, report: FuzzReport, examples: int, rng_seed: int
) -> None:
    @given(case=strategy)
    @settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @seed(rng_seed)
    def drive(case: Any) -> None:
        report.requests += 1
        report.per_operation[label] += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:
            report.failures.append(f"{label}: {type(exc).__name__}: {exc} ({case.formatted_path})")
            return
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.failures.append(f"{label}: HTTP {response.status_code} for {case.formatted_path} {case.query}")

    try:
        drive()
    except Unsatisfiable:
        # Nothing to generate in this mode (a negative case for an operation without inputs).
        report.per_operation[label] += 0


def make_app(store: Store) -> tuple[Any, str]:
    """An app on a seeded store with an admin token."""
    seed_store(store)
    token = new_token()
    store.add_token("fuzz-admin", "admin", hash_token(token))
    return create_app(Settings(), store), token




def main() -> int:
    """Run the fuzz until at least ``--requests`` requests were made; exit 1 on any 5xx."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="minimum requests to make (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="", help="store URL of an EMPTY database (default: a temporary SQLite file)")
    args = parser.parse_args()
    total = FuzzReport()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or f"sqlite:///{tmp}/fuzz.db")
        app, token = make_app(store)
        schema_ops = len(list(schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations()))
        # Roughly 4 passes per operation; size the examples so one round makes about the target.
        examples = max(20, args.requests // (4 * schema_ops))
        round_seed = args.seed
        while total.requests < args.requests:
            r = run_fuzz(app, token, examples, round_seed)
            total.requests += r.requests
            total.statuses.update(r.statuses)
            total.failures.extend(r.failures)
            total.per_operation.update(r.per_operation)
            round_seed += 1
        store.close()
    elapsed = time.perf_counter() - started
    summary = {
        "benchmark": "fuzz_http",
        "requests": total.requests,
        "server_errors": sum(n for s, n in total.statuses.items() if s >= 500),
        "exceptions_or_5xx": len(total.failures),
        "statuses": {str(k): v for k, v in sorted(total.statuses.items())},
        "operations": len(total.per_operation),
        "store": "postgresql" if args.db.startswith("postgres") else "sqlite",
        "seconds": round(elapsed, 1),
        "failures": total.failures[:50],
        "machine": machine(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz_http.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if total.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
