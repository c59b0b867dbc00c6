"""``simpang edge ...``: the edge box's link to central.

* ``simpang edge link-test`` publishes synthetic aggregates through the spool to central and waits
  until central has acknowledged every one: a commissioning check of endpoint, keys and firewall,
  and the load generator of the loss test.
* ``simpang edge send AGGREGATES.jsonl`` sends the aggregates ``simpang replay`` wrote (one per
  line) to central through the spool, and waits until central has acknowledged them all.
* ``simpang edge spool FILE`` shows what is waiting in a spool.

Central is named by ``--central tcp://HOST:PORT`` with ``--server-key`` (central's Z85 public key)
and ``--key-file`` (this box's secret key file), or by the ``central`` section of ``--site FILE``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from edge.commands.common import command_group
from edge.errors import ConfigError, SpoolError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``edge`` and its sub-commands."""
    es = command_group(sub, "edge", "the edge box: runtime, link to central")

    t = es.add_parser("link-test", help="publish synthetic aggregates to central and wait for every ack")
    _add_link_options(t)
    t.add_argument("--count", type=int, default=100, help="aggregates to publish (default 100)")
    t.add_argument("--rate", type=float, default=0.0, help="aggregates per second; 0 = as fast as possible")
    t.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for all acks (default 60)")
    t.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    t.set_defaults(handler=_link_test)

    sd = es.add_parser("send", help="send a replay's aggregates.jsonl to central and wait for every ack")
    sd.add_argument("file", type=Path, metavar="AGGREGATES.jsonl")
    _add_link_options(sd)
    sd.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all acks (default 120)")
    sd.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sd.set_defaults(handler=_send)

    s = es.add_parser("spool", help="show what is waiting in a spool file")
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--json", action="store_true", help="print as one JSON object")
    s.set_defaults(handler=_spool_status)


def _add_link_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", type=Path, metavar="FILE", help="site file whose 'central' section to use")
    p.add_argument("--site-id", help="site id to publish as (default: the site file's, else 'link-test')")
    p.add_argument("--central", metavar="ENDPOINT", help="central's ZeroMQ endpoint, tcp://HOST:PORT")
    p.add_argument("--server-key", metavar="Z85", help="central's CurveZMQ public key (40 characters)")
    p.add_argument("--key-file", type=Path, metavar="FILE", help="this box's CurveZMQ secret key file")
    p.add_argument("--spool", type=Path, metavar="FILE", help="spool file (default: the site file's)")


def _send(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415 - keeps `simpang --help` light

    from edge.messages import Aggregate  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.publish import Publisher  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.spool import Spool  # noqa: PLC0415 - keeps `simpang --help` light

    # Every line is checked before anything is spooled: a bad file sends nothing.
    bodies: list[Aggregate] = []
    try:
        with args.file.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    bodies.append(Aggregate.model_validate_json(line))
                except ValidationError as err:
                    first = err.errors(include_url=False)[0]
                    where = ".".join(str(x) for x in first["loc"]) or "line"
                    raise ConfigError(f"{args.file}:{n}: not an aggregate ({where}: {first['msg']}); nothing sent") from None
    except OSError as err:
        raise ConfigError(f"{args.file}: cannot read: {err.strerror}") from None
    site_id, settings, spool_path = _settings(args)
    spool = Spool(spool_path, site_id)
    pub = Publisher(spool, settings)
    pub.start()
    t0 = time.monotonic()
    try:
        for k in range(0, len(bodies), 1000):
            pub.publish_many(bodies[k:k + 1000])
        drained = pub.wait_drained(args.timeout)
        stats = pub.stats()
    finally:
        pub.stop()
        spool.close()
    summary = {"site": site_id, "central": settings.endpoint, "file": str(args.file), "sent": len(bodies),
               "acked": stats.acked, "spool_depth": stats.spool_depth, "all_acked": drained,
               "seconds": round(time.monotonic() - t0, 3)}
    if args.json:
        print(json.dumps(summary))
    else:
        state = "all acknowledged" if drained else f"{stats.spool_depth} still spooled (sent when central is back)"
        print(f"{site_id} -> {settings.endpoint}: {len(bodies)} aggregate(s) from {args.file}; {state}")
    return 0 if drained else 1


def _settings(args: argparse.Namespace) -> tuple[str, Any, Path]:
    from edge.config_loader import load_site  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.publish import LinkSettings  # noqa: PLC0415 - keeps `simpang --help` light

    site_id = args.site_id
    spool = args.spool
    if args.site is not None:
        site = load_site(args.site)
        settings = LinkSettings.from_config(site.central)
        site_id = site_id or site.site_id
        spool = spool or Path(site.central.spool_path)
    elif args.central is not None:
        settings = LinkSettings(args.central)
    else:
        raise ConfigError("name central with --central tcp://HOST:PORT or --site FILE")
    overrides: dict[str, Any] = {}
    if args.central is not None:
        overrides["endpoint"] = args.central
    if args.server_key is not None:
        overrides["server_public_key"] = args.server_key
    if args.key_file is not None:
        overrides["client_key_file"] = str(args.key_file)
    if overrides:
        settings = LinkSettings(**{**settings.__dict__, **overrides})
    return site_id or "link-test", settings, spool or Path("spool.sqlite")


def _link_test(args: argparse.Namespace) -> int:
    from edge.messages import Aggregate, LineCount  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.publish import Publisher  # noqa: PLC0415 - keeps `simpang --help` light
    from edge.spool import Spool  # noqa: PLC0415 - keeps `simpang --help` light

    if args.count < 0 or args.rate < 0:
        raise ConfigError("--count and --rate must not be negative")
    site_id, settings, spool_path = _settings(args)
    spool = Spool(spool_path, site_id)
    resumed = spool.depth
    pub = Publisher(spool, settings)
    pub.start()
    t0 = time.monotonic()
    try:
        # Batches of about 50 ms of messages: one spool transaction (and fsync) per batch.
        step = max(1, int(args.rate / 20)) if args.rate > 0 else 1000
        done = 0
        while done < args.count:
            n = min(step, args.count - done)
            start = time.time()
            pub.publish_many([
                Aggregate(start=start, duration_s=1.0,
                          lines=[LineCount(line="link-test", direction="in", counts={"car": 1})])
            ] * n)
            done += n
            if args.rate > 0:
                time.sleep(max(0.0, t0 + done / args.rate - time.monotonic()))
        drained = pub.wait_drained(args.timeout)
        stats = pub.stats()
    finally:
        pub.stop()
        spool.close()
    elapsed = time.monotonic() - t0
    summary = {
        "site": site_id, "central": settings.endpoint, "published": args.count, "resumed_from_spool": resumed,
        "acked": stats.acked, "resends": stats.resends, "rejected": stats.rejected,
        "spool_depth": stats.spool_depth, "seconds": round(elapsed, 3), "all_acked": drained,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{site_id} -> {settings.endpoint}: published {args.count}, central acknowledged {stats.acked} "
              f"in {elapsed:.1f} s ({stats.resends} resent); {stats.spool_depth} still spooled")
    return 0 if drained else 1


def _spool_status(args: argparse.Namespace) -> int:
    import sqlite3  # noqa: PLC0415 - keeps `simpang --help` light

    from edge.spool import waiting  # noqa: PLC0415

    if not args.file.is_file():
        raise SpoolError(f"{args.file}: spool file not found")
    try:
        with sqlite3.connect(f"file:{args.file}?mode=ro", uri=True) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            depth, size, first, last = waiting(db, meta.get("format"))
    except sqlite3.Error as err:
        raise SpoolError(f"{args.file}: not a spool file: {err}") from None
    info = {"site": meta.get("site"), "waiting": depth, "bytes": size, "first_seq": first, "last_seq": last,
            "numbered": meta.get("last_seq")}
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{args.file}: site {info['site']}, {depth} message(s) waiting ({size} bytes), seq {first}..{last}; "
              f"{info['numbered']} numbered so far")
    return 0
