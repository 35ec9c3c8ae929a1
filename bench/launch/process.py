"""The worker child of one run: started in a process group of its own, Ctrl-C and SIGTERM passed on to it,
stopped (SIGTERM, then SIGKILL) when it runs past its time. Written once; every launcher starts children here."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable

from ..core.child import RUNNER_PID_VARIABLE, WORKER_MODULE, Terminated, raise_terminated
from ..plan.spec import RunSpec
from .base import Ended

STOP_GRACE_S = 30.0  # after SIGTERM, how long a child may take to write its row before SIGKILL


def spawn(spec: RunSpec, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The worker of `spec`, in a session of its own (so it gets only the signals passed on to it), knowing its
    runner's pid so that it dies with it (bench.worker's die_with_parent)."""
    full = {**os.environ, RUNNER_PID_VARIABLE: str(os.getpid()), **(env or {})}
    # Started with Ctrl-C and SIGTERM blocked (the mask survives exec): one passed on before the worker's own
    # handlers are in place waits for them (bench.worker.start), instead of killing Python mid-start-up.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        return subprocess.Popen([sys.executable, "-m", WORKER_MODULE, spec.to_json()], env=full,
                                start_new_session=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def forward_signals() -> tuple:
    """Ctrl-C and SIGTERM as KeyboardInterrupt in this process, even when SIGINT was inherited ignored (a job started
    in the background by a non-interactive shell): the children, in groups of their own, only get what is passed
    on. Returns the previous handlers for restore_signals."""
    return signal.signal(signal.SIGTERM, raise_terminated), signal.signal(signal.SIGINT, signal.default_int_handler)


def restore_signals(previous: tuple) -> None:
    signal.signal(signal.SIGTERM, previous[0])
    signal.signal(signal.SIGINT, previous[1])


def passed_on(exc: KeyboardInterrupt) -> int:
    """The signal to pass on to a child for an interrupt of the runner: SIGTERM for SIGTERM, else SIGINT."""
    return signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT


def launch(spec: RunSpec, timeout_s: float | None = None, grace_s: float = STOP_GRACE_S,
           env: dict[str, str] | None = None, on_spawn: Callable[[subprocess.Popen], None] | None = None) -> Ended:
    """Run one spec in its child and wait for it.

    Ctrl-C and SIGTERM sent to the runner are passed on to the child (which records itself as interrupted);
    past `timeout_s` the child gets SIGTERM, then SIGKILL `grace_s` later if it is still there. The child
    also dies with the runner if the runner is killed outright. `on_spawn` hears of the child as it starts."""
    previous = forward_signals()
    child = None
    try:
        child = spawn(spec, env)
        if on_spawn:
            on_spawn(child)
        try:
            return Ended(child.wait(timeout=timeout_s))
        except subprocess.TimeoutExpired:
            return Ended(stop(child, signal.SIGTERM, grace_s), timed_out=True)
        except KeyboardInterrupt as exc:
            return Ended(stop(child, passed_on(exc), grace_s), interrupted=True)
    except KeyboardInterrupt:  # between the handlers and the child's start: no child yet, the run never began
        return Ended(-signal.SIGINT, interrupted=True)
    finally:
        if child is not None and child.poll() is None:  # whatever happened above, no child outlives this call
            stop(child, signal.SIGKILL, grace_s)
        restore_signals(previous)


def stop(child: subprocess.Popen, first: int, grace_s: float) -> int:
    """Send `first` to the child's process group; SIGKILL it if it has not ended `grace_s` later. Its exit status."""
    for sig in (first, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C while waiting: stop waiting politely
            continue
    return child.wait()
