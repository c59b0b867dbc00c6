"""The engineer API end to end over HTTP on a real store: sites, measures, events, plans, audit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from central.settings import Settings
from central.store import Store
from tests.central.apphelpers import Api, make_api
from tests.central.factories import T0, ack, aggregate, events, health, signal


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    a = make_api(store)
    with a.client:
        yield a


def _fill(store: Store) -> None:
    # 30 one-minute aggregates; the second 15 minutes have twice the cars.
    store.ingest([aggregate("s1", i, T0 + 60 * i, cars=10 if i < 15 else 20, queue=2.0) for i in range(30)])
    store.ingest([health("s1", 100, T0 + 1800, phase=[4])])


def test_sites_and_live_status(api: Api) -> None:
    _fill(api.store)
    r = api.client.get("/api/sites", headers=api.headers["viewer"])
    assert r.status_code == 200
    (site,) = r.json()
    assert (site["site"], site["last_seq"], site["messages"]) == ("s1", 100, 31)
    status = api.client.get("/api/sites/s1", headers=api.headers["viewer"]).json()
    assert status["health"]["phase"] == [4]
    assert status["health"]["queues"] == {"north": 4.0, "south": 1.0}
    assert status["aggregate"]["start"] == T0 + 60 * 29
    assert api.client.get("/api/sites/nope", headers=api.headers["viewer"]).status_code == 404


def test_measures_json_bins(api: Api) -> None:
    _fill(api.store)
    r = api.client.get(
        "/api/sites/s1/measures", params={"start": T0, "end": T0 + 2700, "bin_s": 900}, headers=api.headers["viewer"]
    )
    assert r.status_code == 200, r.text
    bins = r.json()["bins"]
    assert [b["intervals"] for b in bins] == [15, 15, 0]
    assert bins[0]["lines"]["north_stop:in"] == {"car": 150, "motorcycle": 450}
    assert bins[1]["movements"]["n_through"]["car"] == 300
    north = bins[1]["approaches"]["north"]
    # Flow is PCU over covered time: (20 + 30 * 0.25) vehicles-PCU per minute.
    assert north["flow_pcu_h"] == pytest.approx((20 + 7.5) * 60)
    assert north["queue_veh_mean"] == pytest.approx(2.0)
    assert north["queue_veh_max"] == pytest.approx(4.0)
    assert bins[2]["approaches"] == {}


def test_measures_csv_and_iso_times(api: Api) -> None:
    _fill(api.store)
    r = api.client.get(
        "/api/sites/s1/measures",
        params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:30:00", "bin_s": 900, "format": "csv"},
        headers=api.headers["viewer"],
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    approach = [row for row in rows if row["scope"] == "approach"]
    assert [row["bin_start_utc"] for row in approach] == ["2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"]
    assert approach[1]["car"] == "300"
    assert approach[1]["total"] == "750"
    assert float(approach[1]["flow_pcu_h"]) == pytest.approx(1650.0)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": T0 + 10, "end": T0}, "end must be after start"),
        ({"start": T0, "end": T0 + 400 * 86400}, "at most"),
        ({"start": T0, "end": T0 + 30 * 86400, "bin_s": 60}, "bins"),
        ({"start": "yesterday", "end": T0}, "datetime"),
        ({"start": T0, "end": T0 + 60, "bin_s": 5}, "greater than or equal"),
    ],
)
def test_measures_bad_ranges_are_422(api: Api, params: dict[str, object], fragment: str) -> None:
    _fill(api.store)
    r = api.client.get("/api/sites/s1/measures", params=params, headers=api.headers["viewer"])
    assert r.status_code == 422
    assert fragment in r.text


def test_events_export_atspm_csv_and_measures(api: Api) -> None:
    api.store.ingest([aggregate("s1", 1, T0)])
    cycle = [
        (T0 + 0.0, 1, 2), (T0 + 1.0, 82, 2), (T0 + 3.0, 81, 2), (T0 + 20.0, 4, 2), (T0 + 20.0, 8, 2),
        (T0 + 24.0, 10, 2), (T0 + 30.0, 82, 2), (T0 + 31.0, 81, 2), (T0 + 40.0, 1, 2), (T0 + 41.0, 82, 2),
        (T0 + 85.0, 5, 2), (T0 + 85.0, 8, 2), (T0 + 89.0, 10, 2), (T0 + 95.0, 81, 2),
    ]
    api.store.ingest([events("s1", 2, cycle[:7]), events("s1", 3, cycle[7:])])
    r = api.client.get("/api/sites/s1/events", params={"start": T0, "end": T0 + 100}, headers=api.headers["viewer"])
    assert r.status_code == 200
    lines = r.text.strip().splitlines()
    assert lines[0] == "SignalID,Timestamp,EventCode,EventParam"
    assert lines[1] == "s1,2026-01-01 00:00:00.000,1,2"
    assert len(lines) == 1 + len(cycle)
    got = api.client.get(
        "/api/sites/s1/events", params={"start": T0 + 30, "end": T0 + 41, "format": "json"}, headers=api.headers["viewer"]
    ).json()
    assert [(e["ts"] - T0, e["code"]) for e in got] == [(30.0, 82), (31.0, 81), (40.0, 1)]

    (p2,) = api.client.get("/api/sites/s1/atspm", params={"start": T0, "end": T0 + 100}, headers=api.headers["viewer"]).json()
    assert (p2["phase"], p2["greens"], p2["gap_outs"], p2["max_outs"]) == (2, 2, 1, 1)
    # Second green: detector held on from 41 s through 95 s (> 79 % of green and of red's first 5 s).
    assert p2["split_failures"] == 1
    assert (p2["arrivals"], p2["arrivals_on_green"]) == (3, 2)
    bad = api.client.get(
        "/api/sites/s1/atspm", params={"start": T0, "end": T0 + 100, "channels": "x"}, headers=api.headers["viewer"]
    )
    assert bad.status_code == 422
    assert "DETECTOR:PHASE" in bad.text


def test_plan_propose_refuse_apply_ack_rollback_audit(api: Api) -> None:
    api.store.ingest([health("s1", 1, T0)])
    eng = api.headers["engineer"]
    r = api.client.post("/api/sites/s1/plans", json={"signal": signal().model_dump(), "note": "base"}, headers=eng)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1
    # A minimum green under the 5 s floor is refused with the reason, and nothing is stored.
    unsafe = signal(min_green=3.0).model_dump()
    r = api.client.post("/api/sites/s1/plans", json={"signal": unsafe}, headers=eng)
    assert r.status_code == 422
    assert any("below the 5 s floor" in reason for reason in r.json()["detail"]["reasons"])
    assert [p["version"] for p in api.client.get("/api/sites/s1/plans", headers=eng).json()] == [1]
    # A structurally invalid plan (conflicting phases in one stage) is refused by the schema.
    broken = signal().model_dump() | {"stages": [[2, 4], [4]]}
    r = api.client.post("/api/sites/s1/plans", json={"signal": broken}, headers=eng)
    assert r.status_code == 422
    assert "conflicting phases" in r.text

    r = api.client.post("/api/sites/s1/plans/1/apply", headers=eng)
    assert r.status_code == 202
    assert r.json()["status"] == "pending"
    assert [q.version for q in api.queued] == [1]
    assert api.client.post("/api/sites/s1/plans/1/apply", headers=eng).status_code == 409
    api.store.ingest([ack("s1", 2, 1, applied=True)])
    assert api.client.get("/api/sites/s1/plans/current", headers=eng).json()["version"] == 1

    # Changing the structure against the plan in force is refused.
    moved = signal().model_dump()
    moved["phases"][0]["movements"] = ["s_left"]
    r = api.client.post("/api/sites/s1/plans", json={"signal": moved}, headers=eng)
    assert r.status_code == 422
    assert "served movements differ" in r.text

    api.client.post("/api/sites/s1/plans", json={"signal": signal(max_green=60).model_dump()}, headers=eng)
    api.client.post("/api/sites/s1/plans/2/apply", headers=eng)
    api.store.ingest([ack("s1", 3, 2, applied=True)])
    r = api.client.post("/api/sites/s1/plans/rollback", headers=eng)
    assert r.status_code == 202
    assert (r.json()["version"], r.json()["note"]) == (3, "rollback to v1")
    assert r.json()["signal"] == signal().model_dump(mode="json")

    log = api.client.get("/api/audit", params={"site": "s1"}, headers=api.headers["viewer"]).json()
    assert [e["action"] for e in log][:3] == ["plan.rollback", "plan.applied", "plan.queued"]
    assert log[0]["actor"] == "engineer-user"
    assert "plan.refused_proposal" in [e["action"] for e in log]


def test_plan_errors(api: Api) -> None:
    eng = api.headers["engineer"]
    assert api.client.post("/api/sites/ghost/plans", json={"signal": signal().model_dump()}, headers=eng).status_code == 404
    api.store.ingest([health("s1", 1, T0)])
    assert api.client.post("/api/sites/s1/plans/rollback", headers=eng).status_code == 409
    assert api.client.post("/api/sites/s1/plans/7/apply", headers=eng).status_code == 409
    assert api.client.get("/api/sites/s1/plans/7", headers=eng).status_code == 404
    assert api.client.get("/api/sites/s1/plans/current", headers=eng).status_code == 404
    extra = {"signal": signal().model_dump(), "colour": "red"}
    assert api.client.post("/api/sites/s1/plans", json=extra, headers=eng).status_code == 422


def test_metrics_expose_store_and_http_series(api: Api) -> None:
    _fill(api.store)
    api.client.get("/api/sites", headers=api.headers["viewer"])
    text = api.client.get("/metrics").text
    assert 'simpang_store_site_messages_total{site="s1"} 31.0' in text
    assert 'simpang_store_site_last_seen_timestamp_seconds{site="s1"}' in text
    assert 'simpang_store_site_lag_seconds{site="s1"}' in text
    assert "simpang_plans_pending 0.0" in text
    assert 'simpang_http_requests_total{method="GET",route="/api/sites",status="200"} 1.0' in text


def test_too_many_rows_is_422_not_a_memory_blowup(sqlite_store: Store) -> None:
    api = make_api(sqlite_store, Settings(max_rows=10))
    _fill(sqlite_store)
    with api.client:
        r = api.client.get(
            "/api/sites/s1/measures", params={"start": T0, "end": T0 + 3600}, headers=api.headers["viewer"]
        )
    assert r.status_code == 422
    assert "more than 10 aggregate messages" in r.text
