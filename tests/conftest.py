"""Shared fixtures, the `gpu` marker's skip rule, and a thread cap per xdist worker."""
from __future__ import annotations

import os

import pytest
import torch

from tests.helpers import ONE_LATENCY_PROCESS


CACHE: list[str] = []  # the tests' image cache folder, removed at the end


def pytest_configure(config: pytest.Config) -> None:
    """Under `pytest -n N`, each worker (and every run it starts, through OMP_NUM_THREADS) gets cores / N
    threads, so N workers do not oversubscribe the machine. The image cache of the tests (and of the runs they
    start) lives in a temporary folder, never in the user's ~/.cache/bench."""
    import tempfile

    CACHE.append(tempfile.mkdtemp(prefix="bench-cache-"))
    os.environ["BENCH_CACHE_DIR"] = CACHE[0]
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
        torch.set_num_threads(int(threads))


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    for folder in CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def xdist_group(item: pytest.Item) -> str | None:
    """The worker group of a test that shares an expensive fixture: under `pytest -n N --dist loadgroup` (make test,
    make test-slow) each group runs on one worker, which builds the fixture once instead of once per worker. The
    shared two-seed runs (a session fixture, ~40 s) are one group across modules; a module-scoped fixture (real
    runs, a browser) makes its users one group per module. Everything else is spread test by test."""
    if "two_seed_run" in item.fixturenames:  # the closure: two_seed_results and fixtures built on it too
        return "two_seed_run"
    info = getattr(item, "_fixtureinfo", None)
    if info is not None and any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values()):
        return item.module.__name__
    return None


def long_ones_first(items: list[pytest.Item], groups: dict[str, str | None]) -> None:
    """Order the tests so that the long ones start first: the work units of `--dist loadgroup` (a group of `groups`,
    or a test alone) that hold a `slow` test, then the other groups (an expensive shared fixture), then single tests,
    each kind in collection order and each unit's tests together and in their own order. xdist hands units out in
    this order (with --no-loadscope-reorder), so the short tests fill the gaps at the end, instead of a long test
    starting last while the other workers have nothing left."""
    unit_of = {nodeid: group or nodeid for nodeid, group in groups.items()}
    kind: dict[str, int] = {}  # 0: holds a slow test; 1: a group; 2: a test alone
    start: dict[str, int] = {}  # where the unit's first test was collected
    for index, item in enumerate(items):
        unit = unit_of[item.nodeid]
        mine = 0 if item.get_closest_marker("slow") else 1 if groups[item.nodeid] else 2
        kind[unit] = min(kind.get(unit, mine), mine)
        start.setdefault(unit, index)
    items.sort(key=lambda item: (kind[unit_of[item.nodeid]], start[unit_of[item.nodeid]]))


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests that share an expensive fixture (xdist_group), long ones first (long_ones_first), and skip
    tests marked `gpu` on a machine without CUDA."""
    groups = {item.nodeid: xdist_group(item) for item in items}
    long_ones_first(items, groups)
    skip = None if torch.cuda.is_available() else pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if groups[item.nodeid]:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
        if skip and "gpu" in item.keywords:
            item.add_marker(skip)


SMALL_RUN = ["--dataset", "fake", "--epochs", "2", "--batch-size", "32", "--device", "cpu"]  # tests check CPU facts
# The shared two-seed run's arguments (two_seed_run), which a test repeating it gives again: latency timed, in one
# process (tests.helpers.quick would leave it out).
TWO_SEED_SETTINGS = (*SMALL_RUN, *ONE_LATENCY_PROCESS)
TWO_SEED_RUN = ("run", "--suite", "shortcut", "--variants", "plain32,resnet32", "--seeds", "2", *TWO_SEED_SETTINGS)


@pytest.fixture(scope="session")
def two_seed_run(tmp_path_factory):
    """shortcut suite, plain32 + resnet32, two seeds, on fake data: four real runs in child processes, whole (latency
    timed, in one process: the report's and the runner's tests read it)."""
    from tests.helpers import bench

    results = tmp_path_factory.mktemp("results")
    result = bench(*TWO_SEED_RUN,
                   "--results", str(results), "--checkpoints", "--tensorboard", str(results / "tensorboard"))
    return results, result


@pytest.fixture(scope="session")
def two_seed_results(two_seed_run, tmp_path_factory):
    """A pristine copy of the two-seed results, taken before any test changes them."""
    import shutil

    copy = tmp_path_factory.mktemp("pristine") / "results"
    shutil.copytree(two_seed_run[0], copy)
    return copy


def pytest_benchmark_update_machine_info(config, machine_info: dict) -> None:
    """What a latency comparison depends on, in pytest-benchmark's machine info (and so in every saved run)."""
    import torchvision

    machine_info["torch_version"] = torch.__version__
    machine_info["torchvision_version"] = torchvision.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cuda_version"] = torch.version.cuda
    machine_info["gpu_name"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node SLURM cluster (scripts/slurm-cluster.sh) for the session; yields the environment that
    points SLURM's commands at it. Skipped, with the reason, where Debian's slurm-wlm and munge are missing."""
    import shutil
    import subprocess

    from tests.helpers import ROOT

    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"SLURM not installed ({', '.join(missing)} missing): apt-get install -y slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons need root")
    folder = tmp_path_factory.mktemp("slurm")
    script = str(ROOT / "scripts" / "slurm-cluster.sh")
    started = subprocess.run([script, "start", str(folder)], capture_output=True, text=True, timeout=120)
    if started.returncode:
        pytest.fail(f"the test cluster did not start: {started.stderr.strip()}")
    env = {"SLURM_CONF": str(folder / "slurm.conf")}
    os.environ.update(env)  # for the squeue / scancel the tests run themselves
    try:
        yield env
    finally:
        subprocess.run([script, "stop", str(folder)], capture_output=True, timeout=120)
        os.environ.pop("SLURM_CONF", None)
