"""One run in its own process: train, evaluate, measure, and always leave a run row behind.

Invoked by the runner as `python -m bench.worker SPEC_JSON`. Exit status 0 means a row was written
(whatever its status), 130 that the run was interrupted (row written too); anything else is a crash.
"""
from __future__ import annotations

import signal

EARLY_SIGNALS: list[int] = []  # signals that arrived while the worker was starting
RUNNER_PID_VARIABLE = "BENCH_RUNNER_PID"


def die_with_parent() -> None:
    """SIGTERM this process when the runner that started it dies, even by SIGKILL: no orphan keeps training.

    Linux: prctl(PR_SET_PDEATHSIG). Elsewhere: a daemon thread that polls the parent's pid every second."""
    import os
    import sys
    import threading
    import time

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


if __name__ == "__main__":  # as the runner's child, not when the runner imports a name from here
    # Until the run's own handlers are in place (importing torch takes seconds), Ctrl-C or SIGTERM is noted rather
    # than raised mid-import: the run then records itself as interrupted instead of dying with a traceback.
    signal.signal(signal.SIGINT, lambda signum, frame: EARLY_SIGNALS.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: EARLY_SIGNALS.append(signum))
    die_with_parent()

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from . import isolation
from .errors import EXIT_INTERRUPTED
from .spec import RunSpec
from .status import Status
from .store import (EpochRow, PredictionRow, RunRow, checkpoint_path, epochs_dir, now, predictions_dir, runs_dir,
                    write_shard)

from .train import WARMUP_STEPS  # noqa: E402

STARTED = time.time()  # a fallback for process_started() where /proc is missing


def process_started() -> float:
    """When this process started (time.time() scale, ±10 ms): from /proc on Linux, else when this module loaded."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return STARTED


def new_row(spec: RunSpec) -> RunRow:
    """The run row before anything ran: identity, recipe and environment."""
    import torchvision

    return RunRow(
        run_id=spec.run_id, suite=spec.suite, variant=spec.variant, label=spec.label, weights=spec.weights or "none",
        dataset=spec.dataset, synthetic_data=spec.dataset == "fake", seed=spec.seed,
        status=Status.INTERRUPTED.value, input_size=spec.recipe.input_size, epochs=spec.recipe.epochs, epochs_run=0,
        device=spec.device, num_threads=torch.get_num_threads(), torch_version=torch.__version__,
        torchvision_version=torchvision.__version__, git_sha=spec.git_sha, config_hash=spec.config_hash,
        experiment_hash=spec.experiment_hash, identity=json.dumps(spec.identity, sort_keys=True),
        recipe=json.dumps(dataclasses.asdict(spec.recipe)), latency_batch=spec.recipe.latency_batch,
        suite_description=spec.suite_description, suite_labels=list(spec.suite_labels),
        suite_published=spec.suite_published, min_test_acc=spec.min_test_acc, started_at=now())


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's failure."""
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def classify(exc: BaseException) -> tuple[str, str]:
    """(status, one-line error) for an exception that ended a run."""
    from .errors import user_error_types
    from .train import Diverged

    first_line = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, Diverged):
        return Status.DIVERGED.value, first_line
    if is_out_of_memory(exc):
        return Status.OOM.value, f"out of memory: {first_line}"
    if isinstance(exc, user_error_types()):
        return Status.FAILED.value, first_line
    return Status.FAILED.value, f"{type(exc).__name__}: {first_line}"


def execute(spec: RunSpec) -> int:
    """Run `spec`, write its run and epoch shards whatever happens, and return the exit status."""
    from .device import cuda_extra_memory, peak_memory

    row, epochs = new_row(spec), []
    code = 0
    results = Path(spec.results)
    marker = isolation.Marker(spec.run_id, isolation.host(), isolation.slot(spec.device), os.getpid(),
                              datetime.now(timezone.utc).isoformat())
    isolation.write_marker(results, marker)
    try:
        if EARLY_SIGNALS:
            raise KeyboardInterrupt
        train_run(spec, row, epochs)
        row.status = Status.OK.value
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shard writing short
        row.status, row.error, code = Status.INTERRUPTED.value, "interrupted (Ctrl-C or SIGTERM)", EXIT_INTERRUPTED
    except Exception as exc:
        row.status, row.error = classify(exc)
        if row.error.startswith(type(exc).__name__):  # an unexpected error: keep its traceback for the user
            traceback.print_exc()
        print(f"bench: {spec.label} seed {spec.seed}: {row.status}: {row.error}", file=sys.stderr)
    finally:
        device = torch.device(spec.device)
        row.peak_mem_mb, row.mem_kind = peak_memory(device)
        extra = cuda_extra_memory(device)
        row.peak_reserved_mb, row.nvml_used_mb = extra.get("peak_reserved_mb"), extra.get("nvml_used_mb")
        row.finished_at = now()
        marker.finished_at = datetime.now(timezone.utc).isoformat()
        isolation.write_marker(results, marker)
        row.host, row.device_slot = marker.host, marker.slot
        row.contended_with = isolation.overlapping(marker, isolation.read_markers(results))
        row.contended = bool(row.contended_with)
        if epochs:
            write_shard(epochs, epochs_dir(results, spec.suite), spec.run_id)
        write_shard([row], runs_dir(results, spec.suite), spec.run_id)
    return code


def train_run(spec: RunSpec, row: RunRow, epochs: list[EpochRow], warmup_steps: int = WARMUP_STEPS) -> None:
    """Build, profile and train the model, filling `row` and `epochs` as it goes."""
    import models
    from tqdm import tqdm

    from .data import load_dataset
    from .datacheck import check
    from .device import device_name, reset_peak_memory, use_device
    from .profile import measure_latency, profile_model
    from .speed import Speed
    from .train import fit, test
    from .utilization import Sampler, gpu_utilization_reader

    recipe, device = spec.recipe, torch.device(spec.device)
    use_device(device)
    speed = Speed.of(recipe, device)
    row.precision, row.channels_last, row.compile = speed.precision, speed.channels_last, speed.compile
    torch.manual_seed(spec.seed)
    row.device_name = device_name(device)
    data = load_dataset(spec.dataset, spec.data_root, recipe.input_size, spec.seed, recipe.val_fraction, device)
    row.num_classes, row.classes, row.synthetic_data = data.num_classes, data.classes, data.synthetic
    summary = data.summary()
    print("\n".join(summary.lines()), file=sys.stderr)
    row.train_images, row.val_images, row.test_images = (summary.total(s) for s in ("train", "val", "test"))
    row.train_per_class, row.val_per_class, row.test_per_class = (summary.per_class[s] for s in ("train", "val", "test"))
    row.converted_images = summary.converted
    check(summary, recipe.batch_size)

    variant = models.get_variant(spec.variant)
    model = variant.build(num_classes=data.num_classes)
    if recipe.zero_init_residual:
        models.zero_init_residual(model)
    if spec.weights:
        print(f"{spec.label}: {models.load_pretrained(model, variant, spec.weights).summary()}", file=sys.stderr)
        own = models.weights_normalization(variant, spec.weights)  # weights bring the preprocessing they learnt with
        if own is not None:
            data.mean, data.std, data.stats = own
    row.norm_mean, row.norm_std, row.norm_source = list(data.mean), list(data.std), data.stats
    profile = profile_model(model, recipe.input_size, data.num_classes)
    for name in ("params", "trainable_params", "macs", "flops", "other_ops", "activations"):
        setattr(row, name, getattr(profile, name))
    speed.apply_backends()
    for batch, column in ((1, "latency_ms_b1"), (recipe.latency_batch, "latency_ms_bN")):
        latency = measure_latency(model, batch, recipe.input_size, device, threads=row.num_threads, speed=speed)
        setattr(row, column, latency.median_ms)
        setattr(row, f"{column}_iqr", latency.iqr_ms)
    reset_peak_memory(device)

    read = gpu_utilization_reader(device)
    sampler = Sampler(read) if read else None
    logger = TensorBoardLog(spec) if spec.tensorboard else None
    on_terminal = sys.stderr.isatty()  # a log file gets one plain line per epoch instead of a redrawn bar
    bar = tqdm(total=recipe.epochs, desc=f"{spec.label} s{spec.seed}", unit="epoch", file=sys.stderr,
               dynamic_ncols=True, disable=not on_terminal)
    best_state = None
    for result in fit(model, data, recipe, device, spec.seed, warmup_steps, sampler or contextlib.nullcontext):
        epoch, tr, va = result.epoch, result.train, result.val
        if epoch == 1:
            row.compile_s, row.setup_s = result.compile_s, result.training_started - process_started()
        epochs.append(EpochRow(spec.run_id, epoch, tr.loss, tr.acc, va.loss, va.acc, result.lr, tr.time_s,
                               tr.data_time_s, tr.images / tr.time_s))
        write_shard(epochs, epochs_dir(Path(spec.results), spec.suite), spec.run_id)  # a killed run keeps its epochs
        summarize_epochs(row, epochs)
        row.gpu_util_pct = sampler.mean() if sampler else None
        if logger:
            logger.log(epochs[-1], model)
        if row.best_epoch is None or va.acc > row.best_val_acc:  # validation alone chooses the epoch
            row.best_val_acc, row.best_epoch = va.acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if spec.checkpoints:
                save_checkpoint(best_state, spec, data)
        bar.update()
        bar.set_postfix(loss=f"{tr.loss:.3f}", val_acc=f"{va.acc:.1%}", img_s=f"{tr.images / tr.time_s:.0f}")
        if not on_terminal:
            print(f"{spec.label} s{spec.seed} epoch {epoch}/{recipe.epochs}: train loss {tr.loss:.3f}, "
                  f"val acc {va.acc:.1%}, {tr.images / tr.time_s:.0f} images/s, {tr.time_s:.2f} s", file=sys.stderr)
        if recipe.patience is not None and epoch - row.best_epoch >= recipe.patience:
            break
    bar.close()
    if logger:
        logger.close()
    # The test set is read once, with the best-validation weights: it never chooses anything.
    model.load_state_dict(best_state)
    result = test(model, data, recipe, device)
    row.test_acc, row.confusion = result.acc, result.confusion.flatten().tolist()
    write_shard(prediction_rows(spec.run_id, result), predictions_dir(Path(spec.results), spec.suite), spec.run_id)
    record_utilization(row, spec, device)


def record_utilization(row: RunRow, spec: RunSpec, device: torch.device) -> None:
    """Achieved TFLOP/s, the device's peak at this precision (measured once, cached in the results folder), MFU."""
    from .store import peak_tflops_path
    from .utilization import mfu, peak_tflops, train_tflops

    row.train_tflops = train_tflops(row.flops, row.images_per_s)
    row.peak_tflops = peak_tflops(peak_tflops_path(Path(spec.results)), device, row.device_name, row.precision)
    row.mfu = mfu(row.train_tflops, row.peak_tflops)


def prediction_rows(run_id: str, test) -> list[PredictionRow]:
    """One row per test image, in split order."""
    return [PredictionRow(run_id, i, int(y), int(p), float(q))
            for i, (y, p, q) in enumerate(zip(test.labels.tolist(), test.predicted.tolist(),
                                              test.probability.tolist()))]


def summarize_epochs(row: RunRow, epochs: list[EpochRow]) -> None:
    """The run row's per-run aggregates of its epoch rows."""
    from .convergence import plateaued, time_to_near_best

    val_acc, times = [e.val_acc for e in epochs], [e.epoch_time_s for e in epochs]
    row.plateaued = plateaued(val_acc)
    row.epochs_to_95pct, row.time_to_95pct_s = time_to_near_best(val_acc, times)
    row.epochs_run = len(epochs)
    row.final_val_acc = epochs[-1].val_acc
    row.epoch_time_s = statistics.median(e.epoch_time_s for e in epochs)
    row.train_time_s = sum(e.epoch_time_s for e in epochs)
    row.data_time_s = sum(e.data_time_s for e in epochs)
    row.images_per_s = statistics.median(e.images_per_s for e in epochs)


def save_checkpoint(state: dict[str, torch.Tensor], spec: RunSpec, data) -> None:
    """The best-validation weights with what they are (variant, classes, normalisation, recipe, identity),
    written atomically; plain types only, so `torch.load(path, weights_only=True)` reads it."""
    path = checkpoint_path(Path(spec.results), spec.suite, spec.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {"state_dict": state, "variant": spec.variant, "weights": spec.weights or "none",
                  "classes": list(data.classes), "mean": list(data.mean), "std": list(data.std),
                  "input_size": spec.recipe.input_size, "recipe": dataclasses.asdict(spec.recipe),
                  "config_hash": spec.config_hash, "identity": json.dumps(spec.identity, sort_keys=True),
                  "run_id": spec.run_id}
    tmp = path.parent / f".{spec.run_id}.tmp"
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


class TensorBoardLog:
    """Per-epoch scalars and weight histograms under <dir>/<suite>/<run_id>."""

    def __init__(self, spec: RunSpec) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(spec.tensorboard) / spec.suite / spec.run_id))

    def log(self, e: EpochRow, model: torch.nn.Module) -> None:
        for name in ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "epoch_time_s", "images_per_s"):
            self.writer.add_scalar(name, getattr(e, name), e.epoch)
        for name, param in model.named_parameters():
            self.writer.add_histogram(name, param.detach().cpu(), e.epoch)

    def close(self) -> None:
        self.writer.close()


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process: one JSON spec argument."""
    # From here on Ctrl-C and SIGTERM raise KeyboardInterrupt; one noted during start-up is raised by execute().
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)  # a terminated run is recorded as interrupted
    spec = RunSpec.from_json((argv or sys.argv[1:])[0])
    if spec.threads:  # the thread count its identity names (the pool's share of the cores, SLURM's cores per task)
        torch.set_num_threads(spec.threads)
    return execute(spec)


if __name__ == "__main__":
    sys.exit(main())
