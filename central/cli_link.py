"""``simpang central keys|ingest|bench``: the ZeroMQ side of central.

* ``simpang central keys create NAME [--dir DIR]`` creates the CurveZMQ key pair of edge box NAME
  (and central's own pair on first use); ``simpang central keys list [--dir DIR]`` lists them.
* ``simpang central ingest --db URL --zmq ENDPOINT [--keys DIR]`` runs one stateless ingest
  worker without the web app; several may share one PostgreSQL database.
* ``simpang central bench [--db sqlite|postgresql://...] [--json]`` measures end-to-end ingest
  throughput and ack latency (see ``benchmarks/central_ingest.py``).
* ``simpang central run ... --zmq ENDPOINT [--keys DIR]``: :func:`add_link_arguments` adds these
  options and :func:`link_services` builds the ingest server and config pusher the app runs.

:mod:`central.cli` lists these adders in its ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from central.ingest import IngestServer
    from central.push import ConfigPusher
    from central.store.base import Store

log = logging.getLogger(__name__)

#: Where key pairs live unless ``--dir`` says otherwise.
DEFAULT_KEYS_DIR = Path("keys")


def add_link_arguments(p: argparse.ArgumentParser) -> None:
    """The edge-link options of ``simpang central run``."""
    p.add_argument("--zmq", metavar="ENDPOINT", default=None,
                   help="also receive edges here and push plans to them, e.g. tcp://0.0.0.0:5560 (default: API only)")
    p.add_argument("--keys", type=Path, metavar="DIR", default=None,
                   help="CurveZMQ key folder (simpang central keys); without it the link is clear text (lab only)")


@dataclass(frozen=True)
class LinkServices:
    """What the app needs to run the edge link: pass ``app_kwargs()`` to ``create_app``."""

    ingest: IngestServer
    pusher: ConfigPusher

    def app_kwargs(self) -> dict[str, Any]:
        """``services``, ``on_plan_queued`` and ``registries`` for :func:`central.app.create_app`."""
        from prometheus_client import REGISTRY  # noqa: PLC0415 - keeps `simpang --help` light

        registries: tuple[CollectorRegistry, ...] = (REGISTRY, self.ingest.registry)
        return {"services": (self.ingest, self.pusher), "on_plan_queued": self.pusher.plan_queued,
                "registries": registries}


def link_services(store: Store, endpoint: str, keys_dir: Path | None) -> LinkServices:
    """The ingest server and config pusher for ``store``, not started (the app's lifespan starts them).

    Raises:
        KeyFileError: ``keys_dir`` has no central key pair.
    """
    from central.ingest import IngestServer  # noqa: PLC0415 - keeps `simpang --help` light
    from central.push import ConfigPusher  # noqa: PLC0415 - keeps `simpang --help` light

    ingest = IngestServer(endpoint, store, keys_dir=keys_dir)
    return LinkServices(ingest, ConfigPusher(store, ingest))


def add_keys(cs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = cs.add_parser("keys", help="create and list CurveZMQ key pairs of central and the edge boxes")
    ks = k.add_subparsers(title="keys commands", metavar="ACTION", required=True)
    c = ks.add_parser("create", help="create the key pair of one edge box, named after its site id")
    c.add_argument("name", metavar="NAME", help="the edge box's site id")
    c.add_argument("--dir", type=Path, default=DEFAULT_KEYS_DIR, help="key folder (default ./keys)")
    c.add_argument("--json", action="store_true", help="print as one JSON object")
    c.set_defaults(handler=_keys_create)
    ls = ks.add_parser("list", help="list central's key and every admitted edge key")
    ls.add_argument("--dir", type=Path, default=DEFAULT_KEYS_DIR, help="key folder (default ./keys)")
    ls.add_argument("--json", action="store_true", help="print as one JSON array")
    ls.set_defaults(handler=_keys_list)


def add_ingest(cs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    i = cs.add_parser("ingest", help="run a stateless ingest worker: edges -> store, no web app")
    i.add_argument("--db", required=True, metavar="URL", help="store URL: sqlite:///FILE or postgresql://...")
    i.add_argument("--zmq", default="tcp://0.0.0.0:5560", metavar="ENDPOINT",
                   help="where edges connect (default tcp://0.0.0.0:5560)")
    i.add_argument("--keys", type=Path, metavar="DIR", help="key folder; without it the link is clear text (lab only)")
    i.set_defaults(handler=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    import signal  # noqa: PLC0415 - keeps `simpang --help` light
    import threading  # noqa: PLC0415 - keeps `simpang --help` light

    from central.ingest import IngestServer  # noqa: PLC0415 - keeps `simpang --help` light
    from central.store import open_store  # noqa: PLC0415 - keeps `simpang --help` light

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    store = open_store(args.db)
    try:
        server = IngestServer(args.zmq, store, keys_dir=args.keys)
        server.start()
        try:
            print(f"ingest listening on {server.endpoint}", flush=True)
            while not done.wait(60.0):
                st = server.stats()
                log.info("ingest: %d stored, %d duplicates, %d rejected, %.0f msg/s, %d site(s)",
                         st.stored, st.duplicates, sum(st.rejected.values()), st.rate_per_s, len(st.sites))
        finally:
            server.stop()
    finally:
        store.close()
    return 0


def add_bench(cs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from central.bench import add_arguments  # noqa: PLC0415 - keeps `simpang --help` light

    b = cs.add_parser("bench", help="measure aggregates/s stored end to end and ack latency")
    add_arguments(b)
    b.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from central.bench import report  # noqa: PLC0415 - keeps `simpang --help` light

    report(args)
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from central.keys import KeyFolder  # noqa: PLC0415 - keeps `simpang --help` light

    keys = KeyFolder(args.dir)
    info = keys.create(args.name)
    server = keys.ensure_server()
    if args.json:
        print(json.dumps({
            "name": info.name, "public_key": info.public_key, "public_file": str(info.public_file),
            "secret_file": str(info.secret_file), "server_public_key": server.public_key,
        }))
        return 0
    print(f"created key pair {info.name!r}: public key {info.public_key}")
    print(f"  admitted by central while {info.public_file} exists")
    print(f"  copy {info.secret_file} to the edge box (central.client_key_file), then delete it here")
    print(f"  the edge box's central.server_public_key: {server.public_key}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from central.keys import KeyFolder  # noqa: PLC0415 - keeps `simpang --help` light

    infos = KeyFolder(args.dir).list()
    if args.json:
        print(json.dumps([
            {"name": i.name, "public_key": i.public_key, "server": i.server,
             "secret_here": i.secret_file is not None} for i in infos
        ]))
        return 0
    if not infos:
        print(f"no keys in {args.dir} (create one with 'simpang central keys create NAME')")
    for i in infos:
        role = "central (server)" if i.server else "edge, admitted"
        note = "" if i.server or i.secret_file is None else "  [secret key still here: move it to the box]"
        print(f"{i.name:<24} {i.public_key}  {role}{note}")
    return 0
