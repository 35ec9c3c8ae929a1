"""Timing isolation, recorded: where a run trained, and whether another run of this harness shared it meanwhile.

Two timed runs on one GPU, or on the same CPU cores, slow each other down; the harness never hides that. Each
run leaves a small marker in `<results>/.markers/<run_id>.json` (host, the slot it trained on, pid, start and
end), written around the training, never inside it. When a run ends it reads the markers of the same host:
any other run on the same slot whose time overlapped its own makes it `contended`, with their run ids.
The markers live in the results folder, so runs of other `bench run` invocations, other suites and SLURM
tasks that share a node are seen as well as the runner's own.

A slot is `cuda:<index>` (the physical GPU, through CUDA_VISIBLE_DEVICES) or `cpu:<set>` (the cores the
process may run on). Two CPU slots clash when their core sets meet; GPU runs clash on the same index.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..store.paths import is_safe_name, marker_path, markers_dir


@dataclass
class Marker:
    run_id: str
    host: str
    slot: str
    pid: int
    started_at: str
    finished_at: str | None = None


def host() -> str:
    return socket.gethostname()


def cpu_set() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def ranges(cores: list[int]) -> str:
    """0,1,2,5 -> "0-2,5", as taskset and SLURM write core lists."""
    parts, start = [], None
    for i, core in enumerate(cores):
        if start is None:
            start = core
        if i + 1 == len(cores) or cores[i + 1] != core + 1:
            parts.append(f"{start}-{core}" if core != start else f"{core}")
            start = None
    return ",".join(parts)


MAX_CORES = 1 << 16  # a core list read from a marker past it is not a machine's (and would fill the memory)


def parse_ranges(text: str) -> set[int]:
    cores: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 0 <= first <= last < MAX_CORES:
            raise ValueError(f"core range {part!r}")
        cores.update(range(first, last + 1))
    return cores


def slot(device: str) -> str:
    """Where a run on `device` trains: the physical GPU index, or this process's CPU set."""
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        return f"cuda:{visible[index].strip() if index < len(visible) else index}"
    return f"cpu:{ranges(cpu_set())}"


def clash(a: str, b: str) -> bool:
    kind_a, _, where_a = a.partition(":")
    kind_b, _, where_b = b.partition(":")
    if kind_a != kind_b:
        return False
    return where_a == where_b if kind_a == "cuda" else bool(parse_ranges(where_a) & parse_ranges(where_b))


def write_marker(results: Path, marker: Marker) -> None:
    path = marker_path(results, marker.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(marker)))
    os.replace(tmp, path)


def read_markers(results: Path) -> list[Marker]:
    """The markers of the folder; one that is not a marker (damaged, or hostile: a run id that is not a file name,
    a pid that is not one, a time or slot that does not parse) is named in one line and left out."""
    markers = []
    for path in sorted(markers_dir(results).glob("*.json")):
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            continue  # removed meanwhile
        except (OSError, ValueError):
            raw = None
        marker = checked_marker(raw)
        if marker is None:
            print(f"bench: {path} is not a timing-isolation marker; ignored (delete it)", file=sys.stderr)
        else:
            markers.append(marker)
    return markers


def checked_marker(raw: object) -> Marker | None:
    """The marker `raw` (JSON as read) holds when every field is what write_marker writes, else None."""
    if not isinstance(raw, dict) or not set(raw) <= {f.name for f in fields(Marker)}:
        return None
    try:
        marker = Marker(**raw)
        texts = (marker.host, marker.slot, marker.started_at)
        if not (is_safe_name(marker.run_id) and all(isinstance(t, str) for t in texts)
                and type(marker.pid) is int and 0 < marker.pid < 2**31):
            return None
        for when in (marker.started_at, marker.finished_at):
            if when is not None and datetime.fromisoformat(when).tzinfo is None:
                return None  # write_marker writes UTC times; a naive one could not be compared
        clash(marker.slot, marker.slot)  # its core list parses
    except (TypeError, ValueError):
        return None
    return marker


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def other_load_reader(proc: Path = Path("/proc")) -> Callable[[], float] | None:
    """A reader of the machine's load from other processes: runnable threads system-wide (/proc/stat's
    procs_running) less this process's own runnable threads, per core. None where /proc is missing."""
    stat, tasks = proc / "stat", proc / "self" / "task"
    if not stat.is_file() or not tasks.is_dir():
        return None
    cores = os.cpu_count() or 1

    def read() -> float:
        running = next(int(line.split()[1]) for line in stat.read_text().splitlines()
                       if line.startswith("procs_running"))
        own = 0
        for task in tasks.iterdir():
            try:
                text = (task / "stat").read_text()
            except OSError:
                continue  # a thread that just ended
            own += text[text.rindex(")") + 2] == "R"
        return max(0, running - own) / cores

    return read


def overlapping(mine: Marker, others: list[Marker]) -> list[str]:
    """Run ids of the other runs on this host and a clashing slot whose time met `mine`'s (an ISO interval)."""
    start, end = datetime.fromisoformat(mine.started_at), datetime.fromisoformat(mine.finished_at or mine.started_at)
    found = []
    for other in others:
        if other.run_id == mine.run_id or other.host != mine.host or not clash(mine.slot, other.slot):
            continue
        if other.finished_at is None and not alive(other.pid):
            continue  # killed without finishing: its end is unknown, so it is not counted
        other_end = datetime.fromisoformat(other.finished_at) if other.finished_at else end
        if datetime.fromisoformat(other.started_at) < end and other_end > start:
            found.append(other.run_id)
    return sorted(found)
