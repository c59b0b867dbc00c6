"""Central's hot path for the wire: the bulk kinds decoded and validated by msgspec.

:mod:`edge.messages` is the wire schema (pydantic) and stays the one authority: every frame this
module cannot decode goes to :func:`edge.messages.decode`, which either accepts it or says why it
is refused. This module only makes the common case cheap: ``aggregate`` and ``events`` envelopes,
which are nearly every message an edge box sends, are validated by msgspec structs that mirror the
pydantic models field for field (``python -m benchmarks.wire_decode``, 500-byte aggregates on the
2-core build machine: 285,000 frames/s against pydantic's 84,000 with the garbage collector held,
as ingest holds it during a batch; 185,000 against 25,000 with it running). The mirror may refuse more than pydantic does (lax coercions such
as ``5.0`` for an integer fall back to pydantic), never less: the property test
``tests/edge/test_wirefast.py`` holds it to that, and to equal values on what both accept.

Example:
    >>> from edge.messages import Envelope, Health, encode
    >>> env = decode_fast(b'{"v":1,"site":"s1","seq":3,"sent_at":0.5,"body":{"kind":"events","events":[]}}')
    >>> env.site, env.seq, env.body.kind
    ('s1', 3, 'events')
    >>> decode_fast(encode(Envelope(site="s1", seq=4, sent_at=0.0, body=Health(uptime_s=1.0)))).body.kind
    'health'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from edge import messages
from edge.messages import MAX_MESSAGE_BYTES, SITE_ID_PATTERN, Body, Envelope, decode, encode

# Bounds stand in for pydantic's allow_inf_nan=False: JSON has no NaN, but 1e999 overflows to inf.
_BIG = 1.7976931348623157e308
Finite = Annotated[float, Meta(ge=-_BIG, le=_BIG)]
NonNegative = Annotated[float, Meta(ge=0.0, le=_BIG)]
Byte = Annotated[int, Meta(ge=0, le=255)]


class _Struct(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    pass


class LineCount(_Struct):
    """Mirror of :class:`edge.messages.LineCount`."""

    line: str
    direction: Literal["in", "out"]
    counts: dict[str, int] = {}


class MovementCount(_Struct):
    """Mirror of :class:`edge.messages.MovementCount`."""

    movement: str
    counts: dict[str, int] = {}


class ApproachMeasures(_Struct):
    """Mirror of :class:`edge.messages.ApproachMeasures`."""

    approach: str
    arrivals: dict[str, int] = {}
    flow_pcu_h: NonNegative = 0.0
    occupancy: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    queue_veh_mean: NonNegative = 0.0
    queue_veh_max: NonNegative = 0.0
    queue_m_max: NonNegative | None = None
    speed_mps_mean: NonNegative | None = None


class Aggregate(_Struct, tag="aggregate", tag_field="kind", gc=False):
    """Mirror of :class:`edge.messages.Aggregate`."""

    kind: ClassVar[Literal["aggregate"]] = "aggregate"
    start: Finite
    duration_s: Annotated[float, Meta(gt=0.0, le=_BIG)]
    lines: list[LineCount] = []
    movements: list[MovementCount] = []
    approaches: list[ApproachMeasures] = []


class HiResEvent(_Struct):
    """Mirror of :class:`edge.messages.HiResEvent`."""

    ts: Finite
    code: Byte
    param: Byte


class Events(_Struct, tag="events", tag_field="kind", gc=False):
    """Mirror of :class:`edge.messages.Events`."""

    kind: ClassVar[Literal["events"]] = "events"
    events: list[HiResEvent] = []


class FastEnvelope(_Struct):
    """Mirror of :class:`edge.messages.Envelope` for the bulk kinds.

    The site id's pattern is checked after decoding, by :func:`_known_site`: msgspec runs a
    Python regex per string (a third of the decoding time), while a site sends thousands of
    messages under one id.
    """

    site: Annotated[str, Meta(min_length=1, max_length=64)]
    seq: Annotated[int, Meta(ge=0)]
    sent_at: Finite
    body: Aggregate | Events
    v: Literal[1] = 1


#: What central's ingest hands to the store: a fast-path or a pydantic envelope (same attributes).
WireEnvelope = FastEnvelope | Envelope

_decoder = msgspec.json.Decoder(FastEnvelope)

_SITE = re.compile(SITE_ID_PATTERN)
#: Site ids already matched against the wire pattern (bounded: cleared when full).
_sites_ok: set[str] = set()
_MAX_SITES_OK = 100_000


def _known_site(site: str) -> bool:
    """Whether ``site`` matches :class:`edge.messages.Envelope`'s site pattern (cached)."""
    if site in _sites_ok:
        return True
    if _SITE.fullmatch(site) is None:
        return False
    if len(_sites_ok) >= _MAX_SITES_OK:
        _sites_ok.clear()
    _sites_ok.add(site)
    return True


def decode_fast(frame: bytes) -> WireEnvelope:
    """Validate one frame: msgspec for aggregates and events, :func:`edge.messages.decode` for the rest.

    Raises:
        WireError: the frame is not a valid message (the reason is pydantic's).
    """
    fast = try_fast(frame)
    return fast if fast is not None else decode(frame)


def try_fast(frame: bytes) -> FastEnvelope | None:
    """The frame as a fast-path envelope, or None when the mirror does not accept it."""
    if len(frame) > MAX_MESSAGE_BYTES:
        return None
    try:
        env = _decoder.decode(frame)
    except (msgspec.DecodeError, ValueError):  # ValueError: invalid UTF-8 met by a string constraint
        return None
    return env if _known_site(env.site) else None


def try_fast_lines(lines: list[bytes], part: bytes) -> list[FastEnvelope] | None:
    """All ``lines`` (``part`` split at ``\\n``) as fast-path envelopes in one call, or None.

    None when any line is not one the mirror accepts on its own: the caller then decodes line by
    line, so a bad frame costs its batch the fast call but never spoils its neighbours.
    ``decode_lines`` reads whitespace-separated values, so two objects on one line beside a blank
    line would pair envelopes with the wrong lines: blank lines are refused up front, and then
    one value per line is what the count check proves.
    """
    if len(part) > MAX_MESSAGE_BYTES and max(map(len, lines)) > MAX_MESSAGE_BYTES:
        return None
    if not all(map(bytes.strip, lines)):
        return None
    try:
        envs = _decoder.decode_lines(part)
    except (msgspec.DecodeError, ValueError):
        return None
    if len(envs) != len(lines):
        return None
    # A batch comes from one site or a few: check each id once.
    return envs if all(map(_known_site, {env.site for env in envs})) else None


def encode_any(env: WireEnvelope) -> bytes:
    """The wire frame of either kind of envelope."""
    return msgspec.json.encode(env) if isinstance(env, FastEnvelope) else encode(env)


#: Wire models msgspec serialises field by field from the instance (the bulk kinds and their parts).
_PLAIN_MODELS = frozenset({
    messages.Aggregate, messages.LineCount, messages.MovementCount, messages.ApproachMeasures,
    messages.Events, messages.HiResEvent,
})
_FAST_BODIES = (messages.Aggregate, messages.Events)


def _fields(obj: object) -> dict[str, object]:
    # The exact classes only: a subclass may serialise differently, and pydantic then decides.
    if type(obj) in _PLAIN_MODELS:
        fields: dict[str, object] = obj.__dict__
        return fields
    raise TypeError(f"not a plain wire model: {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_fields)


def encode_bodies(bodies: Sequence[Body]) -> list[bytes]:
    """Bodies as wire JSON: what ``body.model_dump_json()`` writes, about twice as fast for the bulk kinds.

    A validated model's fields (``__dict__``, in declaration order) are already what its JSON
    holds, so msgspec writes them without pydantic's serialiser. Anything else (other kinds, or a
    value msgspec cannot write) is serialised by pydantic. ``tests/edge/test_wirefast.py`` checks
    that pydantic reads the result back equal, and that the bytes are pydantic's own but for how
    an exponent is written (``1e16`` against ``1e+16``, the same number).
    """
    try:
        return [_encoder.encode(body) if type(body) in _FAST_BODIES else body.model_dump_json().encode()
                for body in bodies]
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return [_encode_one(body) for body in bodies]


def _encode_one(body: Body) -> bytes:
    if type(body) in _FAST_BODIES:
        try:
            return _encoder.encode(body)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            pass
    return body.model_dump_json().encode()
