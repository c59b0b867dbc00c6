"""A bounded schemathesis run over every API operation: no 5xx, hostile input gets 4xx.

The full run (>= 10,000 requests) is ``python -m benchmarks.fuzz_http``.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.fuzz_http import make_app, run_fuzz


def test_fuzz_every_operation_without_server_errors(tmp_path: Path) -> None:
    app, token, store = make_app(tmp_path)
    try:
        report = run_fuzz(app, token, examples=5)
    finally:
        store.close()
    assert report.failures == []
    assert report.requests >= 200
    # The run reached handlers (2xx), validation (422), auth (401) and missing resources (404).
    assert {200, 401, 404, 422} <= set(report.statuses)
    assert max(report.statuses) < 500
