"""The supervisor: starts named stage processes, watches their heartbeats, restarts stuck ones.

Each stage is a top-level function ``target(ctx, *args)`` run in its own process (spawn start
method: no inherited locks or onnxruntime state). It calls ``ctx.beat()`` at least every
``stuck_after_s`` seconds and returns when ``ctx.stopping()`` (or when its work is done: a clean
exit is never restarted). The supervisor's :meth:`poll` (called about once a second from the
runtime's main loop) restarts a stage whose process died with an error or whose heartbeat went
stale, with exponential back-off, and counts every restart. :meth:`stop`
stops stages in the order given (sources first, so downstream stages can drain), waiting for each.

Example:
    >>> sup = Supervisor()                                      # doctest: +SKIP
    >>> sup.add(StageSpec("capture", capture_main, (handle,)))  # doctest: +SKIP
    >>> sup.start(); sup.poll(); sup.stop(["capture"])          # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventT
from typing import Any

log = logging.getLogger(__name__)


class StageContext:
    """What a stage process gets from the supervisor: its name, a heartbeat and a stop flag."""

    def __init__(self, name: str, heartbeat: Synchronized[float], stop: EventT) -> None:
        self.name = name
        self._heartbeat = heartbeat
        self._stop = stop

    def beat(self) -> None:
        """Tell the watchdog this stage is alive and making progress."""
        self._heartbeat.value = time.monotonic()

    def stopping(self) -> bool:
        """True once the supervisor asked this stage to finish."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True early if asked to stop."""
        return self._stop.wait(seconds)


@dataclass
class StageSpec:
    """How to run one stage."""

    name: str
    target: Callable[..., None]
    args: tuple[Any, ...] = ()
    stuck_after_s: float = 10.0
    """A heartbeat older than this means the stage is stuck and is restarted."""
    stop_timeout_s: float = 10.0
    """How long :meth:`Supervisor.stop` waits before terminating the process."""
    start_timeout_s: float = 60.0
    """How long a new process may take to import and beat for the first time (a Pi is slow)."""


@dataclass
class _Running:
    spec: StageSpec
    process: BaseProcess
    heartbeat: Synchronized[float]
    stop: EventT
    started: float
    restarts: int = 0
    backoff_s: float = 0.5
    next_start: float = 0.0
    finished: bool = False


@dataclass
class StageStatus:
    """A stage as the health endpoint reports it."""

    name: str
    alive: bool
    restarts: int
    heartbeat_age_s: float
    exitcode: int | None = None
    pid: int | None = None


@dataclass
class Supervisor:
    """Runs and watches stage processes."""

    ctx: mp.context.SpawnContext = field(default_factory=lambda: mp.get_context("spawn"))
    max_backoff_s: float = 30.0
    _stages: dict[str, _Running] = field(default_factory=dict)
    _specs: list[StageSpec] = field(default_factory=list)

    def add(self, spec: StageSpec) -> None:
        """Register a stage (before :meth:`start`)."""
        if any(s.name == spec.name for s in self._specs):
            raise ValueError(f"stage {spec.name!r} added twice")
        self._specs.append(spec)

    def start(self) -> None:
        """Start every registered stage."""
        for spec in self._specs:
            self._stages[spec.name] = self._spawn(spec, restarts=0)

    def _spawn(self, spec: StageSpec, restarts: int) -> _Running:
        # 0.0 until the new process beats for the first time: start-up (imports, model loading)
        # is judged by start_timeout_s, not by stuck_after_s.
        heartbeat: Synchronized[float] = self.ctx.Value("d", 0.0)
        stop = self.ctx.Event()
        proc = self.ctx.Process(
            target=_stage_main, name=f"simpang.{spec.name}", args=(spec.name, spec.target, heartbeat, stop, spec.args)
        )
        proc.daemon = True
        proc.start()
        log.info("stage %s started (pid %s, restarts %d)", spec.name, proc.pid, restarts)
        return _Running(spec, proc, heartbeat, stop, time.monotonic(), restarts)

    def poll(self) -> list[str]:
        """Check every stage once; restart dead or stuck ones. Returns the names restarted."""
        now = time.monotonic()
        restarted: list[str] = []
        for name, run in list(self._stages.items()):
            if run.finished:
                continue
            alive = run.process.is_alive()
            if not alive and run.process.exitcode == 0:
                # A clean exit is a finished stage (end of a recorded stream, or a requested
                # stop), not a crash: it is not restarted.
                run.finished = True
                continue
            beat = run.heartbeat.value
            age = now - (beat or run.started)
            stuck = alive and age > (run.spec.stuck_after_s if beat else run.spec.start_timeout_s)
            if alive and not stuck:
                run.backoff_s = 0.5 if now - run.started > 60 else run.backoff_s
                continue
            if run.next_start == 0.0:
                reason = f"stuck (no heartbeat for {age:.1f} s)" if stuck else f"exited with code {run.process.exitcode}"
                log.warning("stage %s %s; restarting in %.1f s", name, reason, run.backoff_s)
                if alive:
                    run.process.terminate()
                    run.process.join(2.0)
                    if run.process.is_alive():
                        run.process.kill()
                        run.process.join(2.0)
                run.next_start = now + run.backoff_s
            if now >= run.next_start:
                new = self._spawn(run.spec, restarts=run.restarts + 1)
                new.backoff_s = min(run.backoff_s * 2, self.max_backoff_s)
                self._stages[name] = new
                restarted.append(name)
        return restarted

    def status(self) -> list[StageStatus]:
        """The state of every stage."""
        now = time.monotonic()
        return [
            StageStatus(
                name, run.process.is_alive(), run.restarts, now - (run.heartbeat.value or run.started),
                run.process.exitcode, run.process.pid,
            )
            for name, run in self._stages.items()
        ]

    @property
    def restarts(self) -> int:
        """Restarts of all stages since start."""
        return sum(run.restarts for run in self._stages.values())

    def stop(self, order: Sequence[str] | None = None) -> None:
        """Stop stages one by one in ``order`` (default: the order they were added)."""
        names = list(order) if order is not None else [s.name for s in self._specs]
        names += [n for n in self._stages if n not in names]
        for name in names:
            run = self._stages.get(name)
            if run is None:
                continue
            run.stop.set()
            run.process.join(run.spec.stop_timeout_s)
            if run.process.is_alive():
                log.warning("stage %s did not stop in %.0f s; terminating", name, run.spec.stop_timeout_s)
                run.process.terminate()
                run.process.join(2.0)
            run.finished = True
            log.info("stage %s stopped (exit code %s)", name, run.process.exitcode)


def _stage_main(
    name: str, target: Callable[..., None], heartbeat: Synchronized[float], stop: EventT, args: tuple[Any, ...]
) -> None:
    """Entry point of a stage process."""
    # The supervisor decides when a stage stops; Ctrl-C in a terminal reaches the whole process
    # group, and a stage dying on it would lose in-flight work before the ordered stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _name_process(f"simpang-{name}")
    ctx = StageContext(name, heartbeat, stop)
    ctx.beat()
    target(ctx, *args)


def _name_process(title: str) -> None:
    """Show the stage's name in ``ps``/``top`` (Linux ``PR_SET_NAME``; 15 characters)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, title.encode()[:15], 0, 0, 0)  # 15 = PR_SET_NAME
    except (OSError, AttributeError):
        log.debug("cannot name process %s on this platform", title)
