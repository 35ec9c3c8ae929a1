"""The first lines a worker process runs, before torch is imported: an early Ctrl-C or SIGTERM is noted (and
turned into an interrupted row later) rather than raised mid-import, and the worker dies with its runner."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

EARLY_SIGNALS: list[int] = []  # signals that arrived while the worker was starting (or while its row is written)
# Fault injection for the tests (tests/test_interrupts.py, tests/test_resume.py): the moment of the run's life at which
# the worker has its runner interrupted, as a Ctrl-C would be: start, data, warm-up, epoch, test or writing; `epoch:K`
# after the K-th epoch only; `epoch:K:kill` has the worker SIGKILL itself there instead (a kill -9, an OOM killer).
SIGNAL_AT_VARIABLE = "BENCH_TEST_SIGNAL_AT"
STARTED = time.time()  # a fallback for process_started() where /proc is missing


def note_early_signals() -> None:
    """Until the run's own handlers are in place (importing torch takes seconds), Ctrl-C or SIGTERM is noted rather
    than raised mid-import: the run then records itself as interrupted instead of dying with a traceback. The
    runner starts the worker with both signals blocked (bench.launch.process.spawn), so one sent before this line
    waits, and arrives here once they are unblocked."""
    signal.signal(signal.SIGINT, lambda signum, frame: EARLY_SIGNALS.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: EARLY_SIGNALS.append(signum))
    # SLURM's time-limit warning (SIGUSR2) reaches every process of the task, this one too, where its default action
    # would end it without a row: the task's process (bench.launch.slurm.Task) answers it, stopping this one politely.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def phase(name: str, count: int | None = None) -> None:
    """A moment of the run's life (the `count`-th of its name). When BENCH_TEST_SIGNAL_AT names it, the worker has
    its runner interrupted right here (SIGINT to the runner, which passes it on, as after a Ctrl-C) and waits for
    the signal to come back, or kills itself: the tests' way to stop a run at an exact moment, whatever the
    machine's speed."""
    wanted, _, rest = os.environ.get(SIGNAL_AT_VARIABLE, "").partition(":")
    at, _, how = rest.partition(":")
    if wanted != name or (at and str(count) != at):
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    from ..core.child import RUNNER_PID_VARIABLE

    os.kill(int(os.environ[RUNNER_PID_VARIABLE]), signal.SIGINT)
    deadline = time.monotonic() + 120
    while not EARLY_SIGNALS and time.monotonic() < deadline:
        time.sleep(0.01)  # a raising handler ends this wait with KeyboardInterrupt; a noting one through EARLY_SIGNALS


def die_with_parent() -> None:
    """SIGTERM this process when the runner that started it dies, even by SIGKILL: no orphan keeps training.

    Linux: prctl(PR_SET_PDEATHSIG). Elsewhere: a daemon thread that polls the parent's pid every second."""
    from ..core.child import RUNNER_PID_VARIABLE

    parent = int(os.environ.get(RUNNER_PID_VARIABLE, os.getppid()))  # the runner's pid, set before it forked us
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the runner died before the line above took effect
            os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def process_started() -> float:
    """When this process started (time.time() scale, ±10 ms): from /proc on Linux, else when this module loaded."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return STARTED
