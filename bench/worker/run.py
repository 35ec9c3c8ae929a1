"""The run itself: data, model, profile and latency, the `fit` loop with its epochs written as they come, the test
split read once with the best-validation weights, and device use. Fills the run row as it goes."""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

from ..plan.spec import RunSpec
from ..store.metrics import LOADED_PER_CORE
from ..store.paths import epochs_dir, predictions_dir, resume_dir
from ..store.schema import LATENCY_COLUMNS, EpochRow, RunRow
from ..store.shards import write_shard
from ..store.speed import BY_MEASUREMENT, MEMORY_FORMATS
from ..store.tuning import Role
from ..train.loop import WARMUP_STEPS
from . import resume
from .sinks import TensorBoardLog, prediction_rows, save_checkpoint
from .speed_choice import SPEED_CHOICES, choose_speed
from .start import phase


def train_run(spec: RunSpec, row: RunRow, epochs: list[EpochRow], warmup_steps: int = WARMUP_STEPS) -> None:
    """Build, profile and train the model, filling `row` and `epochs` as it goes."""
    import models

    from ..core.device import device_name, peak_memory, reset_peak_memory, use_device
    from ..data.check import check
    from ..data.registry import load_dataset
    from ..measure.profile import profile_model
    from ..measure.isolation import other_load_reader
    from ..measure.utilization import Sampler, gpu_utilization_reader, machine_tflops, sampling
    from ..train.loop import fit, test
    from ..train.speed import Speed
    from .progress import Progress
    from .start import process_started

    recipe, device = spec.recipe, torch.device(spec.device)
    use_device(device)
    speed = Speed.of(recipe, device)  # the run's speed settings, resolved once and passed to all that runs the model
    speed.apply_backends()
    torch.manual_seed(spec.seed)
    row.device_name = device_name(device)
    data = load_dataset(spec.dataset, spec.data_root, recipe.input_size, spec.seed, recipe.val_fraction, device,
                        train_limit=recipe.train_limit, test_limit=recipe.test_limit)
    row.num_classes, row.classes, row.synthetic_data = data.num_classes, data.classes, data.synthetic
    summary = data.summary()
    print("\n".join(summary.lines()), file=sys.stderr)
    row.train_images, row.val_images, row.test_images = (summary.total(s) for s in ("train", "val", "test"))
    row.train_per_class, row.val_per_class, row.test_per_class = (summary.per_class[s] for s in ("train", "val", "test"))
    row.converted_images = summary.converted
    row.data_mb = data.nbytes() / 2**20
    check(summary, recipe.batch_size)
    phase("data")

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
    trial = spec.role == Role.TRIAL.value  # a tuning trial: trains and validates; no latency, no test split
    saved = resume.load(spec)  # a checkpoint of this run stopped earlier: go on after its last finished epoch
    speed = choose_speed(spec, speed, model, data, row, saved.past.get("channels_last") if saved else None)
    if row.speed_chosen_by == BY_MEASUREMENT:
        print(f"{spec.title}: memory format {MEMORY_FORMATS[speed.channels_last]}, chosen by measurement "
              f"({row.step_ms_channels_last:.1f} ms per step in channels_last, {row.step_ms_nchw:.1f} ms in NCHW"
              f"{'; read from ' + SPEED_CHOICES if not row.speed_probe_s else ''})", file=sys.stderr)
    row.machine_tflops = machine_tflops(speed)  # the machine's speed now, and again after latency and training
    if saved is not None:
        for column in LATENCY_COLUMNS:  # timed by the first process, before its first epoch
            setattr(row, column, saved.past.get(column))
    elif not trial and recipe.latency_processes:  # 0: left to `bench latency`
        time_latency(spec, row, data.num_classes)
        row.latency_machine_tflops = max(row.machine_tflops, machine_tflops(speed))  # the faster, before or after
    reset_peak_memory(device)

    read = gpu_utilization_reader(device)
    sampler = Sampler(read) if read else None
    read_load = other_load_reader()
    load = Sampler(read_load, interval_s=0.5) if read_load else None
    best_state, past = None, {"started_at": row.started_at, "resumed_after_epochs": [], "checkpoint_s": 0.0,
                              "channels_last": row.channels_last, "speed_probe_s": row.speed_probe_s,
                              **{column: getattr(row, column) for column in LATENCY_COLUMNS}}
    if saved is not None:
        epochs[:] = saved.epochs
        best_state, row.best_epoch, row.best_val_acc = saved.best_state, saved.best_epoch, saved.best_val_acc
        past = {**saved.past, "resumed_after_epochs": [*saved.past["resumed_after_epochs"], saved.epoch]}
        print(f"{spec.title}: resuming after epoch {saved.epoch} of {recipe.epochs} (its checkpoint in "
              f"{resume_dir(Path(spec.results), spec.suite, spec.config_hash)})", file=sys.stderr)
    restore_past(row, past, epochs)
    last_epoch = saved.epoch if saved is not None and stopped_early(recipe, row) else None  # patience had ended it
    logger = TensorBoardLog(spec) if spec.tensorboard else None
    steps = len(data.train) // recipe.batch_size  # full batches only (drop_last)
    progress = Progress.for_worker(f"{spec.label} s{spec.seed}", recipe.epochs, steps * recipe.batch_size,
                                   done=len(epochs))
    phase("warm-up")
    for result in fit(model, data, recipe, device, spec.seed, warmup_steps, sampling(sampler, load), speed,
                      progress.step, saved.training if saved is not None else None, last_epoch):
        epoch, tr, va = result.epoch, result.train, result.val
        if "setup_s" not in past:  # the first process's fixed costs are the run's; a resumed one's are its own
            past["compile_s"] = result.compile_s
            past["setup_s"] = result.training_started - process_started() - (row.speed_probe_s or 0.0)
        epochs.append(EpochRow(spec.run_id, epoch, tr.loss, tr.acc, va.loss, va.acc, result.lr, tr.time_s,
                               tr.data_time_s, tr.images / tr.time_s))
        if row.best_epoch is None or va.acc > row.best_val_acc:  # validation alone chooses the epoch
            row.best_val_acc, row.best_epoch = va.acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if spec.checkpoints:
                save_checkpoint(best_state, spec, data)
        past["checkpoint_s"] += resume.save(spec, result.training.state_dict(epoch), epochs, row.best_epoch,
                                            row.best_val_acc, best_state, past)
        # After the checkpoint: a killed run keeps its epochs, and the epochs written are never ahead of it.
        write_shard(epochs, epochs_dir(Path(spec.results), spec.suite), spec.run_id)
        phase("epoch", epoch)
        restore_past(row, past, epochs)
        row.gpu_util_pct = sampler.mean() if sampler else None
        row.load_per_core = load.mean() if load else None
        row.loaded = None if row.load_per_core is None else row.load_per_core >= LOADED_PER_CORE
        if logger:
            logger.log(epochs[-1], model)
        progress.epoch_done(epoch, va.acc, f"train loss {tr.loss:.3f}, val acc {va.acc:.1%}, "
                                           f"{tr.images / tr.time_s:,.0f} images/s, {tr.time_s:.2f} s")
        if stopped_early(recipe, row):
            break
    row.peak_mem_mb, row.mem_kind = peak_memory(device)  # the training's: the test pass below is not in it
    # The machine's speed again as training ends: the faster of the two probes, so that a moment's load as either
    # was taken does not read as a slower machine, while a machine slow for the whole run reads slow in both.
    row.machine_tflops = max(row.machine_tflops, machine_tflops(speed))
    if trial:  # what a trial is judged by is its validation accuracy: the test split stays unread
        progress.finish(f"best val acc {row.best_val_acc:.1%} (epoch {row.best_epoch}), trained; a trial: not tested")
    else:
        # The test set is read once, with the best-validation weights: it never chooses anything.
        model.load_state_dict(best_state)
        result = test(model, data, recipe, device, speed)
        row.test_acc, row.confusion = result.acc, result.confusion.flatten().tolist()
        progress.finish(f"test acc {result.acc:.1%} (best validation epoch {row.best_epoch}), trained")
        phase("test")
        write_shard(prediction_rows(spec.run_id, result), predictions_dir(Path(spec.results), spec.suite),
                    spec.run_id)
    record_utilization(row, spec, speed)
    if logger:
        logger.results(spec, row)
        logger.close()


def stopped_early(recipe, row: RunRow) -> bool:
    """The recipe's patience ran out: as many epochs since the best one."""
    return recipe.patience is not None and row.best_epoch is not None and \
        (row.epochs_run or 0) - row.best_epoch >= recipe.patience


def restore_past(row: RunRow, past: dict, epochs: list[EpochRow]) -> None:
    """The row's facts of the run as a whole, whichever process trains it now: when it began, the first process's
    fixed costs, where it was resumed, the seconds its checkpoints took."""
    row.started_at = past["started_at"]
    row.compile_s, row.setup_s = past.get("compile_s"), past.get("setup_s")
    row.resumed_after_epochs = list(past["resumed_after_epochs"])
    row.speed_probe_s = past.get("speed_probe_s", row.speed_probe_s)  # the first process's (a resumed one reads
    # the choice back, at no cost)
    row.checkpoint_s = past["checkpoint_s"]
    if epochs:
        summarize_epochs(row, epochs)


def time_latency(spec: RunSpec, row: RunRow, num_classes: int) -> None:
    """Forward latency at batch 1 and the recipe's larger batch, each timed in `latency_processes` fresh processes
    (bench.worker.latency): the row keeps every process's median and, as the figure, their median."""
    from .latency import LatencyJob, time_in_processes

    recipe = spec.recipe
    job = LatencyJob(spec.variant, num_classes, recipe.input_size, (1, recipe.latency_batch), spec.device,
                     row.num_threads, recipe.precision, bool(row.channels_last))
    times = time_in_processes(job, recipe.latency_processes)
    row.latency_processes = recipe.latency_processes
    for batch, column in ((1, "latency_ms_b1"), (recipe.latency_batch, "latency_ms_bN")):
        setattr(row, column, times.median(batch))
        setattr(row, f"{column}_iqr", times.typical_iqr(batch))
        setattr(row, f"{column}_per_process", list(times.medians[batch]))


def record_utilization(row: RunRow, spec: RunSpec, speed) -> None:
    """Achieved TFLOP/s, the device's peak at this precision (measured once per machine: bench.measure.utilization),
    MFU."""
    from ..measure.utilization import mfu, peak_tflops, train_tflops
    from ..store.paths import machine_peak_tflops_path, peak_tflops_path

    row.train_tflops = train_tflops(row.flops, row.images_per_s)
    row.peak_tflops = peak_tflops(peak_tflops_path(Path(spec.results)), speed, row.device_name,
                                  machine_peak_tflops_path())
    row.mfu = mfu(row.train_tflops, row.peak_tflops)


def summarize_epochs(row: RunRow, epochs: list[EpochRow]) -> None:
    """The run row's per-run aggregates of its epoch rows."""
    from ..measure.convergence import plateaued, time_to_near_best

    val_acc, times = [e.val_acc for e in epochs], [e.epoch_time_s for e in epochs]
    row.plateaued = plateaued(val_acc, row.val_images)
    row.epochs_to_95pct, row.time_to_95pct_s = time_to_near_best(val_acc, times)
    row.epochs_run = len(epochs)
    row.final_val_acc = epochs[-1].val_acc
    row.epoch_time_s = statistics.median(e.epoch_time_s for e in epochs)
    row.train_time_s = sum(e.epoch_time_s for e in epochs)
    row.data_time_s = sum(e.data_time_s for e in epochs)
    row.images_per_s = statistics.median(e.images_per_s for e in epochs)
