"""Soak: a long unattended edge run with flat memory and no stage restarts.

Runs ``simpang edge run`` as its own process (real stage processes, real model, a real central
ingest on loopback) for ``--minutes``, samples the resident memory of the supervisor and of every
stage process every ``--every`` seconds through ``/proc``, and reads stage restarts from the
health endpoint. Target: after warm-up (the first ``--warmup`` minutes), total RSS grows less than
5 %, and zero stage restarts.

    python -m benchmarks.edge_soak [--minutes 30] [--site edge/sites/twin_fourleg.yaml]

The default site is the digital-twin junction (closed loop: camera, detector, tracker, measures,
controller acting on SUMO, publisher); ``--site edge/sites/highway_uk.yaml --loops 1000`` soaks on
the real motorway clip instead.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.vision_common import write_result
from central.ingest import IngestServer
from central.store import open_store

TARGET_GROWTH = 0.05
ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc
    except urllib.error.HTTPError as err:  # 503 while a stage is down; the body says which
        failed: dict[str, Any] = json.loads(err.read())
        return failed
    except (urllib.error.URLError, OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=3.0, help="minutes excluded from the growth figure")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--site", type=Path, default=ROOT / "edge" / "sites" / "twin_fourleg.yaml")
    ap.add_argument("--loops", type=int, default=1000, help="plays of a video file source")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="simpang-soak-") as tmp:
        work = Path(tmp)
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        store = open_store(f"sqlite:///{work / 'central.db'}")
        ingest = IngestServer(endpoint, store)
        ingest.start()
        port = free_port()
        cmd = [sys.executable, "-m", "edge.commands", "edge", "run", "--site", str(args.site), "--central", endpoint,
               "--spool", str(work / "spool.sqlite"), "--health", f"127.0.0.1:{port}", "--loops", str(args.loops),
               "--duration", f"{args.minutes * 60:.0f}", "--json"]
        if str(args.site).endswith("twin_fourleg.yaml"):
            cmd += ["--results", str(work / "twin")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=(work / "edge.log").open("wb"))
        samples: list[dict[str, Any]] = []
        t0 = time.monotonic()
        try:
            while proc.poll() is None:
                time.sleep(args.every)
                doc = health(port)
                if doc is None:
                    continue
                per = {"supervisor": rss_mb(proc.pid)}
                for s in doc.get("stages", []):
                    if s.get("pid"):
                        per[s["name"]] = rss_mb(int(s["pid"]))
                samples.append({"t_min": round((time.monotonic() - t0) / 60, 2), "rss_mb": per,
                                "total_mb": round(sum(per.values()), 1), "restarts": doc.get("stage_restarts", 0),
                                "mode": doc.get("control_mode"), "detector_fps": doc.get("detector_fps")})
                print(f"{samples[-1]['t_min']:6.1f} min  RSS {samples[-1]['total_mb']:7.1f} MiB  "
                      f"restarts {samples[-1]['restarts']}  mode {samples[-1]['mode']}", flush=True)
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=300)
        ingest.stop()
        stored = ingest.stats().stored
        store.close()
    summary = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    after = [s for s in samples if s["t_min"] >= args.warmup]
    base = after[0]["total_mb"] if after else float("nan")
    peak = max((s["total_mb"] for s in after), default=float("nan"))
    last = after[-1]["total_mb"] if after else float("nan")
    growth = (peak - base) / base if after else float("nan")
    result = {
        "site": str(args.site.relative_to(ROOT) if args.site.is_relative_to(ROOT) else args.site),
        "minutes": args.minutes,
        "warmup_min": args.warmup,
        "rss_after_warmup_mb": base,
        "rss_peak_mb": peak,
        "rss_last_mb": last,
        "growth_after_warmup": round(growth, 4),
        "target_growth": TARGET_GROWTH,
        "stage_restarts": summary.get("stage_restarts"),
        "frames": summary.get("frames"),
        "aggregates": summary.get("aggregates"),
        "messages_stored_centrally": stored,
        "spool_depth_at_stop": summary.get("spool_depth"),
        "met": bool(growth < TARGET_GROWTH and summary.get("stage_restarts") == 0),
        "samples": samples,
    }
    path = write_result("edge_soak", result)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
