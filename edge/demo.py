"""The closed-loop demo behind ``make demo``: the whole system on one machine, for real.

1. Central (FastAPI + ZeroMQ ingest, SQLite) starts as its own process.
2. One edge runtime (``simpang edge run``) watches the digital-twin camera: a SUMO four-leg
   junction rendered into frames, an unseen seed and lighting. Its stages detect with Simpang's
   default ONNX model, track, measure, and its adaptive controller drives the junction's signals
   through its safety envelope; aggregates, events and heartbeats stream to central.
3. When the time is up the edge stops in order; the demo then runs the same junction, seed and
   length under Webster's fixed-time plan (and under Simpang fed by SUMO's ideal camera-range
   detectors), and prints a summary: vehicles counted by the vision pipeline vs ground truth per
   movement, average delay per controller, and messages stored centrally.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.sumo import parse_tripinfo
from edge.closed_loop import LoopOptions, run_loop
from edge.config import SiteConfig
from edge.config_loader import load_site, parse_site, resolve_path
from edge.errors import EdgeError

log = logging.getLogger(__name__)

#: Movements with at least this many vehicles are judged against the 5 % target, as in
#: ``benchmarks/twin_vision.py``: one vehicle in three is 33 %, and says nothing.
JUDGED_MIN_VEHICLES = 20

SITE = Path(__file__).resolve().parent / "sites" / "twin_fourleg.yaml"


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo."""

    duration_s: float = 120.0
    headless: bool = False
    seed: int = 7
    lighting: str = "dusk"
    demand: float = 1.0
    pace: float = 1.0
    http_port: int = 8080
    out_dir: Path = Path("out/demo")
    site: Path = SITE
    baselines: bool = True


def _free_port(preferred: int = 0) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EdgeError(f"central exited with code {proc.returncode} before serving {url}")
        try:
            _get(url, timeout=1.0)
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.3)
    raise EdgeError(f"central did not answer on {url} within {timeout_s:.0f} s")


def _demo_site(opts: DemoOptions, work: Path, zmq_port: int) -> tuple[Path, float]:
    """Write the demo's site file; return it and the simulated horizon in seconds."""
    base = load_site(opts.site)
    doc = yaml.safe_load(opts.site.read_text())
    horizon = max(60.0, opts.duration_s * max(opts.pace, 1.0))
    cam = doc["cameras"][0]
    cam["source"] = (f"twin:fourleg?seed={opts.seed}&lighting={opts.lighting}&demand={opts.demand:g}"
                     f"&duration_s={horizon:g}")
    model = resolve_path(opts.site, base.model.path)
    if not model.exists():
        raise EdgeError(f"the default model {model} is missing (train it with 'simpang model train', see models/README.md)")
    doc["model"]["path"] = str(model)
    doc.setdefault("central", {})
    doc["central"]["endpoint"] = f"tcp://127.0.0.1:{zmq_port}"
    doc["central"]["spool_path"] = str(work / "spool.sqlite")
    path = work / "site.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    parse_site(text, str(path))  # fail here, with the file's name, rather than in a stage process
    path.write_text(text)
    return path, horizon


def run_demo(opts: DemoOptions, present: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the demo; hand the summary to ``present`` and return it (see the module docstring).

    Without ``opts.headless`` central and its dashboard stay up after the summary until Ctrl-C.
    """
    work = opts.out_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for old in ("central.db", "central.db-wal", "central.db-shm", "spool.sqlite", "spool.sqlite-wal", "spool.sqlite-shm"):
        (work / old).unlink(missing_ok=True)
    http_port, zmq_port = _free_port(opts.http_port), _free_port()
    site_path, horizon = _demo_site(opts, work, zmq_port)
    site = load_site(site_path)
    url = f"http://127.0.0.1:{http_port}"
    py = [sys.executable, "-m", "edge.commands"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    central_log = (work / "central.log").open("wb")
    central = subprocess.Popen(
        [*py, "central", "run", "--db", f"sqlite:///{work / 'central.db'}", "--http", f"127.0.0.1:{http_port}",
         "--zmq", f"tcp://127.0.0.1:{zmq_port}", "--anonymous-role", "viewer"],
        stdout=central_log, stderr=subprocess.STDOUT, env=env,
    )
    edge: subprocess.Popen[bytes] | None = None
    try:
        _wait_http(f"{url}/api/sites", central, 60.0)
        print(f"simpang demo: dashboard at {url}/  (central API docs at {url}/docs)", file=sys.stderr, flush=True)
        started = time.time()
        edge_log = (work / "edge.log").open("wb")
        edge = subprocess.Popen(
            [*py, "edge", "run", "--site", str(site_path), "--pace", f"{opts.pace:g}", "--duration",
             f"{opts.duration_s:g}", "--results", str(work / "twin"), "--health", "127.0.0.1:0", "--json"],
            stdout=subprocess.PIPE, stderr=edge_log, env=env,
        )
        print(f"simpang demo: edge runtime on the twin camera for {opts.duration_s:.0f} s "
              f"(logs in {work}); Ctrl-C stops early", file=sys.stderr, flush=True)
        try:
            out, _ = edge.communicate(timeout=opts.duration_s + 300)
        except KeyboardInterrupt:
            edge.send_signal(signal.SIGTERM)
            out, _ = edge.communicate(timeout=120)
        if edge.returncode != 0:
            raise EdgeError(f"the edge runtime exited with code {edge.returncode}; see {work / 'edge.log'}")
        edge_summary = json.loads(out.decode().strip().splitlines()[-1])
        # Everything acknowledged is in central now: read it back through the engineer API.
        sites = _get(f"{url}/api/sites")
        stored: dict[str, Any] = next((s for s in sites if s.get("site") == site.site_id), {})
        measures = _get(f"{url}/api/sites/{site.site_id}/measures?start={started - 3600:.0f}"
                        f"&end={time.time() + horizon + 3600:.0f}&bin_s=86400")
        summary = _summarise(opts, work, site=site, site_path=site_path, url=url, horizon=horizon,
                             edge_summary=edge_summary, stored=stored, measures=measures)
        if present is not None:
            present(summary)
        if not opts.headless:
            # A person is watching: keep central (and its dashboard) up until they are done.
            print(f"simpang demo: the dashboard stays up at {url}/ until Ctrl-C", file=sys.stderr, flush=True)
            try:
                while central.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return summary
    finally:
        if edge is not None and edge.poll() is None:
            edge.kill()
        central.send_signal(signal.SIGTERM)
        try:
            central.wait(30)
        except subprocess.TimeoutExpired:
            central.kill()
        central_log.close()


def _summarise(opts: DemoOptions, work: Path, *, site: SiteConfig, site_path: Path, url: str, horizon: float,
               edge_summary: dict[str, Any], stored: dict[str, Any], measures: dict[str, Any]) -> dict[str, Any]:
    """Counts against ground truth, delays against the baselines, what central holds."""
    vision: dict[str, int] = {}
    for b in measures.get("bins", []):
        for mid, by_cls in b.get("movements", {}).items():
            vision[mid] = vision.get(mid, 0) + sum(by_cls.values())
    truth_doc = json.loads((work / "twin" / "truth.json").read_text())
    truth = {m: int(sum(c.values())) for m, c in truth_doc["movements"].items()}
    sim_time = float(truth_doc["sim_time_s"])
    delay, vehicles, unfinished, _, _ = parse_tripinfo(work / "twin" / "tripinfo.xml")
    # Every movement of the site, those nobody made as well (vision may count one that way too).
    truth = {m.id: truth.get(m.id, 0) for m in site.movements} | truth
    per_movement = {
        m: {"vision": vision.get(m, 0), "truth": n, "error": round(abs(vision.get(m, 0) - n) / n, 3) if n else None}
        for m, n in sorted(truth.items())
    }
    total_truth, total_vision = sum(truth.values()), sum(vision.get(m, 0) for m in truth)
    judged = [float(r["error"] or 0.0) for r in per_movement.values() if int(r["truth"] or 0) >= JUDGED_MIN_VEHICLES]
    summary: dict[str, Any] = {
        "duration_s": opts.duration_s,
        "sim_time_s": round(sim_time, 1),
        "seed": opts.seed,
        "lighting": opts.lighting,
        "edge": {k: edge_summary.get(k) for k in ("frames", "frames_dropped", "detector_fps", "aggregates",
                                                   "signal_changes", "control_mode", "stage_restarts", "spool_depth")},
        "counts": {
            "vision_total": total_vision,
            "truth_total": total_truth,
            "entered_total": int(sum(sum(c.values()) for c in truth_doc.get("entered", {}).values())),
            "total_error": round(abs(total_vision - total_truth) / total_truth, 3) if total_truth else None,
            "per_movement": per_movement,
            "judged_min_vehicles": JUDGED_MIN_VEHICLES,
            "worst_judged_error": max(judged) if judged else None,
        },
        "delay_s": {"simpang_vision": round(delay, 2)},
        "vehicles": vehicles,
        "unfinished": unfinished,
        "central": {"url": url, "messages_stored": stored.get("messages", 0), "database": str(work / "central.db")},
    }
    if opts.baselines:
        for feed, key in (("fixed", "fixed_time"), ("ideal", "simpang_ideal_detectors")):
            r = run_loop(site, LoopOptions(feed=feed, seed=opts.seed, lighting=opts.lighting, demand=opts.demand,  # type: ignore[arg-type]
                                           duration_s=horizon, fps=float(site.cameras[0].fps or 10.0),
                                           site_dir=site_path.parent, until_s=sim_time))
            summary["delay_s"][key] = round(r.delay_s, 2)
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """The summary for a person at a terminal."""
    c, d, e = summary["counts"], summary["delay_s"], summary["edge"]
    print(f"Simpang demo: {summary['duration_s']:.0f} s wall, {summary['sim_time_s']:.0f} s of simulated traffic "
          f"(seed {summary['seed']}, {summary['lighting']})")
    print(f"  edge: {e['frames']} frames, detector {e['detector_fps']:.1f} fps, {e['aggregates']} aggregates, "
          f"{e['signal_changes']} signal changes, mode {e['control_mode']}, {e['stage_restarts']} stage restarts")
    err = c["total_error"]
    print(f"  vehicles counted by vision: {c['vision_total']}  ground truth: {c['truth_total']}"
          + (f"  (error {100 * err:.1f}%)" if err is not None else ""))
    for m, row in c["per_movement"].items():
        er = row["error"]
        print(f"    {m:<16} vision {row['vision']:>4}  truth {row['truth']:>4}" + (f"  {100 * er:5.1f}%" if er is not None else ""))
    worst = c["worst_judged_error"]
    if worst is not None:
        print(f"  worst movement with {c['judged_min_vehicles']}+ vehicles: {100 * worst:.1f}% (target 5%); "
              f"{c['entered_total']} vehicles crossed a stop bar, {c['truth_total']} of them reached their exit")
    print("  average delay (RESCO: timeLoss + departDelay, unfinished included):")
    for k, v in d.items():
        print(f"    {k:<26} {v:7.2f} s")
    print(f"  central stored {summary['central']['messages_stored']} messages (dashboard {summary['central']['url']}/)")


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as one JSON line."""
    return json.dumps(summary)

