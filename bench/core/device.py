"""The one place that decides cpu vs cuda; every CUDA-only call here is small and has a CPU twin."""
from __future__ import annotations

import platform
import resource
import time

import torch

from .errors import UsageError


class DeviceError(UsageError):
    """A device the user asked for that this machine does not have."""


def resolve_device(choice: str = "auto") -> torch.device:
    """`auto` → the current GPU when there is one, else cpu; `cuda` → the current GPU; `cuda:N` → GPU N.
    A CUDA device always comes back with its index, so that a row says which GPU ran it."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return torch.device("cpu")
    if not choice.startswith("cuda"):
        raise DeviceError(f"unknown device '{choice}'; use auto, cpu, cuda or cuda:N")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise DeviceError(f"unknown device '{choice}'; use auto, cpu, cuda or cuda:N (N a GPU index)") from None
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {choice} was asked for but torch sees no CUDA GPU here; use --device cpu or auto")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= count:
        raise DeviceError(f"--device {choice}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}; "
                          "choose one of them")
    return torch.device("cuda", index)


def use_device(device: torch.device) -> None:
    """Make `device` the current one, so that streams, events and synchronisation all refer to it."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def untouched_rng(device: torch.device):
    """A context in which random draws (the CPU's, and this GPU's) leave every generator as it was after."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work; on the CPU work is already done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_model(device: torch.device) -> str:
    """The device's model: the GPU's name, or the CPU's (part of a result's identity)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def device_name(device: torch.device) -> str:
    """A human name for the device: the GPU model, or the CPU and its thread count."""
    if device.type == "cuda":
        return device_model(device)
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} CPU"


CPU_TRAINING_RSS, CPU_RSS, CUDA_ALLOCATED = "cpu_training_rss", "cpu_rss", "cuda_allocated"  # the mem_kind values
_cpu_window: dict[str, float] = {}  # the resident set (MB) as this process's peak-memory window began, on the CPU


def reset_peak_memory(device: torch.device) -> None:
    """Start a fresh peak-memory window. CUDA: torch's allocator statistics. CPU (Linux): free heap pages are given
    back (malloc_trim), the resident set now is noted, and the kernel's resident-set peak is reset (clear_refs 5),
    so that the peak read later is what the window itself added above the data, model and libraries already held."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    _cpu_window.clear()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _cpu_window["start_mb"] = _proc_status_mb("VmRSS")
    except (OSError, ValueError, KeyError):
        pass


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        values = dict(line.split(":", 1) for line in f if ":" in line)
    return int(values[field].split()[0]) / 1024  # kB


def peak_memory(device: torch.device) -> tuple[float, str]:
    """Peak memory in MB and what it measures (the row's `mem_kind`): CUDA tensors allocated since the window began;
    on the CPU the resident set's peak above its level as the window began, or, where Linux cannot reset the peak,
    the process's whole peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, CUDA_ALLOCATED
    if "start_mb" in _cpu_window:
        try:
            return max(0.0, _proc_status_mb("VmHWM") - _cpu_window["start_mb"]), CPU_TRAINING_RSS
        except (OSError, ValueError, KeyError):
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, CPU_RSS  # Linux reports KiB


def cuda_extra_memory(device: torch.device) -> dict[str, float]:
    """On a GPU: peak reserved by torch's allocator and NVML's used memory, in MB; nothing on the CPU."""
    if device.type != "cuda":
        return {}
    extra = {"peak_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20}
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        extra["nvml_used_mb"] = pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        pynvml.nvmlShutdown()
    except Exception:  # NVML missing or not permitted: the torch figures still stand
        pass
    return extra


class Stopwatch:
    """Accumulates time over many start/stop pairs without a host sync per pair (CUDA events on a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._pairs: list = []
        self._start = None

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self._pairs.append((self._start, self._now()))

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def total_s(self) -> float:
        """Seconds summed over all pairs (synchronises once on a GPU), then starts over."""
        if self.cuda:
            torch.cuda.synchronize()
            total = sum(a.elapsed_time(b) for a, b in self._pairs) / 1000
        else:
            total = sum(b - a for a, b in self._pairs)
        self._pairs = []
        return total
