"""``simpang edge run --site FILE``: the unattended edge runtime (see :mod:`edge.runtime`)."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from edge.commands.common import command_group, host_port

if TYPE_CHECKING:
    from edge.commands.common import Subparsers


def add_parser(sub: Subparsers) -> None:
    """Add ``edge run``."""
    group = command_group(sub, "edge", "the edge box: runtime, link to central")
    p = group.add_parser("run", help="run the edge box: cameras, detection, tracking, measures, control, publish")
    p.add_argument("--site", type=Path, required=True, metavar="FILE", help="the site file")
    p.add_argument("--camera", help="camera id (default: the site's only camera)")
    p.add_argument("--central", metavar="ENDPOINT", help="central's ZeroMQ endpoint (overrides the site file)")
    p.add_argument("--server-key", metavar="Z85", help="central's CurveZMQ public key (overrides the site file)")
    p.add_argument("--key-file", metavar="FILE", help="this box's CurveZMQ secret key file (overrides the site file)")
    p.add_argument("--spool", type=Path, metavar="FILE", help="spool file (overrides the site file)")
    p.add_argument("--model", type=Path, metavar="FILE", help="model file (overrides the site file)")
    p.add_argument("--health", type=host_port, default=("127.0.0.1", 9108), metavar="HOST:PORT",
                   help="health and metrics endpoint (default 127.0.0.1:9108; port 0 picks one)")
    p.add_argument("--no-health", action="store_true", help="serve no health endpoint")
    p.add_argument("--pace", type=float, default=1.0,
                   help="speed of recorded or simulated sources: 1 real time (default), 0 lock-step as fast as possible")
    p.add_argument("--loops", type=int, default=1, help="plays of a video file source (default 1)")
    p.add_argument("--limit", type=int, metavar="N", help="frames of a video file source to play")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.add_argument("--results", type=Path, metavar="DIR", help="where a twin camera writes its ground truth at stop")
    p.add_argument("--log-json", action="store_true", help="log JSON lines (for journald on unattended boxes)")
    p.add_argument("--json", action="store_true", help="print the run summary as one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT, the end of a recorded stream, or ``--duration``."""
    from edge.config_loader import load_site  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.logs import configure_logging  # noqa: PLC0415
    from edge.runtime import EdgeRuntime, RuntimeOptions  # noqa: PLC0415

    level = logging.WARNING - 10 * min(int(args.verbose) + 1, 2)
    configure_logging(json_lines=args.log_json, level=level)
    site = load_site(args.site)
    opts = RuntimeOptions(
        site_path=args.site.resolve(),
        camera_id=args.camera,
        endpoint=args.central,
        server_public_key=args.server_key,
        client_key_file=args.key_file,
        spool_path=args.spool,
        health=None if args.no_health else args.health,
        pace=args.pace,
        loops=args.loops,
        limit=args.limit,
        duration_s=args.duration,
        results_dir=args.results,
        model_path=args.model,
    )
    summary = EdgeRuntime(site, opts).run()
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        print(
            f"simpang edge: stopped ({summary.stop_reason}) after {summary.uptime_s:.0f} s: {summary.frames} frames, "
            f"{summary.aggregates} aggregates, {summary.signal_changes} signal changes, "
            f"{summary.stage_restarts} stage restarts, {summary.spool_depth} message(s) still spooled"
        )
    return 0
