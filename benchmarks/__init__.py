"""Benchmarks: heavy measurements that print figures and write JSON to ``benchmarks/results/``.

Each module runs with ``python -m benchmarks.NAME``; none of them runs in ``make test``.
"""
