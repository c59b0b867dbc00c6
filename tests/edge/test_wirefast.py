"""The msgspec fast path never accepts what the pydantic wire schema refuses, and agrees on values."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.messages import (
    Aggregate,
    ApproachMeasures,
    Envelope,
    Events,
    Health,
    HiResEvent,
    LineCount,
    MovementCount,
    WireError,
    decode,
    encode,
)
from edge.wirefast import FastEnvelope, decode_fast, encode_any, encode_bodies, try_fast, try_fast_lines

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
labels = st.text(st.characters(codec="utf-8"), max_size=12)
counts = st.dictionaries(labels, st.integers(-(2**40), 2**40), max_size=4)

aggregates = st.builds(
    Aggregate,
    start=finite,
    duration_s=st.floats(min_value=1e-6, max_value=1e9),
    lines=st.lists(st.builds(LineCount, line=labels, direction=st.sampled_from(["in", "out"]), counts=counts), max_size=3),
    movements=st.lists(st.builds(MovementCount, movement=labels, counts=counts), max_size=3),
    approaches=st.lists(
        st.builds(
            ApproachMeasures, approach=labels, arrivals=counts, flow_pcu_h=non_negative,
            occupancy=st.floats(0.0, 1.0), queue_veh_mean=non_negative, queue_veh_max=non_negative,
            queue_m_max=st.none() | non_negative, speed_mps_mean=st.none() | non_negative,
        ),
        max_size=3,
    ),
)
events = st.builds(Events, events=st.lists(st.builds(HiResEvent, ts=finite, code=st.integers(0, 255), param=st.integers(0, 255)), max_size=5))
envelopes = st.builds(
    Envelope,
    site=st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}\Z"),
    seq=st.integers(0, 2**63 - 1),
    sent_at=finite,
    body=aggregates | events,
)

#: Values a hostile or broken sender might put anywhere in a frame.
HOSTILE: list[Any] = [
    None, True, False, -1, 0, 256, 2**64, 2**70, -(2**70), 5.0, 0.5, -0.0, 1e308, "1e999", "NaN", "",
    "abc\n", "\x00", "in", "out", "aggregate", "events", "health", [], {}, [1], {"x": 1}, 10**30,
]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _same_message(fast: FastEnvelope, slow: Envelope) -> None:
    assert msgspec.to_builtins(fast) == slow.model_dump(mode="json")


@settings(max_examples=300, deadline=None)
@given(envelopes)
def test_every_valid_bulk_message_takes_the_fast_path_with_the_same_values(env: Envelope) -> None:
    frame = encode(env)
    fast = decode_fast(frame)
    assert isinstance(fast, FastEnvelope)
    _same_message(fast, env)
    assert decode(encode_any(fast)) == env


@settings(max_examples=800, deadline=None)
@given(envelopes, st.data())
def test_a_frame_the_fast_path_accepts_is_one_pydantic_accepts_too(env: Envelope, data: st.DataObject) -> None:
    doc = json.loads(encode(env))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        value = data.draw(st.sampled_from(HOSTILE) | st.text(max_size=5) | st.floats())
        _set(doc, path, copy.deepcopy(value))  # HOSTILE's lists and dicts must stay as they are
    if data.draw(st.booleans()):
        doc[data.draw(st.sampled_from(["extra", "v", "kind"]))] = copy.deepcopy(data.draw(st.sampled_from(HOSTILE)))
    text = json.dumps(doc).replace('"1e999"', "1e999").replace('"NaN"', "NaN")
    frame = text.encode()
    fast = try_fast(frame)
    if fast is not None:  # (a refusal by the mirror goes to pydantic, which decides)
        _same_message(fast, decode(frame))


@settings(max_examples=500, deadline=None)
@given(envelopes, st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=0, max_size=2)), min_size=1, max_size=4))
def test_byte_level_damage_never_gets_past_the_fast_path_alone(env: Envelope, cuts: list[tuple[int, bytes]]) -> None:
    frame = bytearray(encode(env))
    for at, junk in cuts:
        i = at % (len(frame) + 1)
        frame[i : i + len(junk)] = junk
    fast = try_fast(bytes(frame))
    if fast is not None:
        _same_message(fast, decode(bytes(frame)))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"not json", "malformed"),
        (b'{"v":2,"site":"s","seq":1,"sent_at":0,"body":{"kind":"events","events":[]}}', "wrong_version"),
        (b'{"v":1,"site":"s\\n","seq":1,"sent_at":0,"body":{"kind":"events","events":[]}}', "invalid"),
        (b'{"v":1,"site":"s","seq":1,"sent_at":1e999,"body":{"kind":"events","events":[]}}', "invalid"),
    ],
)
def test_refusals_keep_pydantics_reasons(frame: bytes, reason: str) -> None:
    with pytest.raises(WireError) as err:
        decode_fast(frame)
    assert err.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.lists(aggregates | events, max_size=3))
def test_bodies_encode_to_what_pydantic_reads_back_equal(bodies: list[Aggregate | Events]) -> None:
    out = encode_bodies(bodies)
    assert [type(body).model_validate_json(raw) for body, raw in zip(bodies, out, strict=True)] == bodies
    # Byte for byte too, but for how an exponent is written (msgspec 1e16, pydantic 1e+16).
    assert [raw.replace(b"e+", b"e") for raw in out] == [b.model_dump_json().encode().replace(b"e+", b"e") for b in bodies]


def test_a_typical_aggregate_encodes_to_pydantics_exact_bytes() -> None:
    from central.bench import sample_aggregate  # noqa: PLC0415

    bodies = [sample_aggregate(i) for i in range(20)]
    assert encode_bodies(bodies) == [body.model_dump_json().encode() for body in bodies]


def test_other_kinds_and_odd_values_are_encoded_by_pydantic() -> None:
    huge = Aggregate(start=0.0, duration_s=1.0, lines=[LineCount(line="l", direction="in", counts={"car": 2**70})])
    bodies: list[Health | Aggregate] = [Health(uptime_s=1.0), _agg(), huge]  # msgspec writes no integer beyond 64 bits
    assert encode_bodies(bodies) == [body.model_dump_json().encode() for body in bodies]


def _agg(seq: int = 1) -> Aggregate:
    return Aggregate(start=1_700_000_000.0 + seq, duration_s=15.0,
                     lines=[LineCount(line="l1", direction="in", counts={"car": seq})])


def _frame(seq: int, site: str = "s1") -> bytes:
    return encode(Envelope(site=site, seq=seq, sent_at=0.5, body=_agg(seq)))


@pytest.mark.parametrize(
    "lines",
    [
        [_frame(1), _frame(2) + b" " + _frame(3), b" "],  # two values on a line beside a blank one
        [_frame(1), b""],
        [_frame(1), b"garbage"],
        [_frame(1), _frame(2).replace(b'"s1"', b'"bad site"')],
        [_frame(1), encode(Envelope(site="s1", seq=2, sent_at=0.0, body=Health(uptime_s=1.0)))],
    ],
)
def test_a_batch_frame_takes_the_one_call_path_only_when_every_line_would_alone(lines: list[bytes]) -> None:
    assert try_fast_lines(lines, b"\n".join(lines)) is None


def test_a_batch_frame_of_valid_lines_decodes_in_one_call() -> None:
    lines = [_frame(i, site=f"site-{i % 2}") for i in range(1, 6)]
    envs = try_fast_lines(lines, b"\n".join(lines))
    assert envs is not None
    assert [(e.site, e.seq) for e in envs] == [(f"site-{i % 2}", i) for i in range(1, 6)]
    assert envs == [try_fast(line) for line in lines]
