"""``simpang central ...``: the central service's commands.

* ``simpang central keys create NAME [--dir DIR]`` creates the CurveZMQ key pair of edge box NAME
  (and central's own pair on first use); ``simpang central keys list [--dir DIR]`` lists them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: Where key pairs live unless ``--dir`` says otherwise.
DEFAULT_KEYS_DIR = Path("keys")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``central`` and its sub-commands."""
    p = sub.add_parser("central", help="the central service: CurveZMQ keys of edge clients")
    cs = p.add_subparsers(title="central commands", metavar="ACTION", required=True)
    _add_keys(cs)


def _add_keys(cs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
