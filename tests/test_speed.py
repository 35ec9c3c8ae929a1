"""Speed settings (precision, memory format, torch.compile) and device use (MFU, GPU utilisation), on the CPU.

Each setting must reach the run row, the config hash and the report; the MFU arithmetic is checked by hand.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import time

import pandas as pd
import pytest
import torch
from torch import nn

from bench.data.registry import load_dataset
from bench.plan.options import RunOptions
from bench.plan.prepare import plan
from bench.train.speed import Speed
from bench.store.paths import peak_tflops_path, speed_choices_path
from bench.store.shards import load_epochs, load_runs
from bench.config.recipe import Recipe
from bench.config.lookup import get_suite
from bench.train.loop import fit, warm_up
from bench.train.probe import Choice, probe_memory_format
from bench.train.schedule import make_optimizer
from bench.measure.utilization import Sampler, mfu, peak_key, train_tflops
from tests.helpers import FORMAT_BY_MEASUREMENT, ONE_LATENCY_PROCESS, bench
from tests.test_experiments import report_of, write_run
from tests.test_report import section

CPU = torch.device("cpu")
RUN = ["run", "--suite", "shortcut", "--variants", "resnet32", "--dataset", "fake", "--epochs", "1",
       "--batch-size", "32", "--device", "cpu"]


@pytest.mark.parametrize("flag, value, key, recorded", [
    ("precision", "bf16", "precision", "bf16"),
    ("precision", "fp16", "precision", "fp16"),
    ("precision", "tf32", "precision", "tf32"),
    ("channels_last", True, "channels_last", True),
    ("channels_last", False, "channels_last", False),  # --no-channels-last: NCHW given, not left to measurement
    ("compile", "reduce-overhead", "compile", "reduce-overhead"),
])
def test_each_setting_is_part_of_the_identity_and_hash(tmp_path, flag, value, key, recorded):
    suite = get_suite("shortcut")
    base = plan(suite, RunOptions(variants=["plain32"], results=str(tmp_path)), CPU)[0]
    changed = plan(suite, RunOptions(variants=["plain32"], results=str(tmp_path), **{flag: value}), CPU)[0]
    assert base.identity["recipe"][key] == Recipe().__getattribute__(key)  # the default: fp32, measured, eager
    assert changed.identity["recipe"][key] == recorded
    assert changed.config_hash != base.config_hash and changed.experiment_hash != base.experiment_hash


@pytest.fixture(scope="module")
def bf16_and_fp32(tmp_path_factory):
    """One bf16 + channels_last run and two default runs (seeds 0 and 1: memory format by measurement) of resnet32,
    on the CPU, in one results folder; whole runs (latency timed, in one process)."""
    results = tmp_path_factory.mktemp("speed")
    fast = bench(*RUN, "--precision", "bf16", "--channels-last", *ONE_LATENCY_PROCESS, "--results", str(results))
    plain = bench(*RUN, "--seeds", "2", *FORMAT_BY_MEASUREMENT, *ONE_LATENCY_PROCESS, "--results", str(results))
    return results, fast, plain


@pytest.mark.slow
def test_bf16_channels_last_trains_on_the_cpu_and_is_recorded(bf16_and_fp32):
    results, fast, plain = bf16_and_fp32
    assert fast.returncode == 0 and plain.returncode == 0, fast.stderr + plain.stderr
    runs = load_runs(results, "shortcut")
    bf16, fp32 = runs[runs["precision"] == "bf16"].iloc[0], runs[runs["precision"] == "fp32"].set_index("seed")
    assert bf16["channels_last"] and bf16["compile"] == "off"
    assert json.loads(bf16["recipe"])["precision"] == "bf16"
    assert set(fp32["config_hash"]).isdisjoint({bf16["config_hash"]})
    epochs = load_epochs(results, "shortcut")
    assert epochs["train_loss"].notna().all() and (epochs["train_loss"] < 10).all()  # a finite, sane loss
    assert (runs["status"] == "ok").all() and pd.isna(bf16["compile_s"])  # eager: nothing compiled


@pytest.mark.slow
def test_the_memory_format_is_chosen_by_measurement_unless_given(bf16_and_fp32):
    """--channels-last is obeyed and recorded as the user's; by default the faster of the two timed formats is
    chosen, measured once: the second seed reads the first one's choice back from the results folder."""
    results, _, _ = bf16_and_fp32
    runs = load_runs(results, "shortcut")
    bf16, fp32 = runs[runs["precision"] == "bf16"].iloc[0], runs[runs["precision"] == "fp32"].set_index("seed")
    assert bf16["speed_chosen_by"] == "user" and pd.isna(bf16["step_ms_nchw"]) and pd.isna(bf16["speed_probe_s"])
    assert json.loads(bf16["recipe"])["channels_last"] is True
    assert (fp32["speed_chosen_by"] == "measurement").all()
    assert all(json.loads(r)["channels_last"] is None for r in fp32["recipe"])  # the recipe leaves it open
    first, second = fp32.loc[0], fp32.loc[1]
    assert 0 < first["step_ms_nchw"] < 10_000 and 0 < first["step_ms_channels_last"] < 10_000
    assert first["channels_last"] == (first["step_ms_channels_last"] < first["step_ms_nchw"])  # the faster one
    assert first["speed_probe_s"] > 0 and second["speed_probe_s"] == 0  # measured once, then read back
    assert second["channels_last"] == first["channels_last"]
    assert second[["step_ms_nchw", "step_ms_channels_last"]].tolist() == \
        first[["step_ms_nchw", "step_ms_channels_last"]].tolist()
    assert first["experiment_hash"] == second["experiment_hash"]
    # the probe runs before training, outside the run's fixed cost and outside every epoch
    assert first["speed_probe_s"] < (pd.to_datetime(first["finished_at"]) -
                                     pd.to_datetime(first["started_at"])).total_seconds()
    cache = json.loads(speed_choices_path(results).read_text())
    assert len(cache) == 1 and next(iter(cache.values()))["channels_last"] == first["channels_last"]


@pytest.mark.slow  # its fixture trains in bf16: minutes on a CPU without AVX-512 (emulated)
def test_mfu_of_each_run_follows_its_own_columns_and_the_cached_peak(bf16_and_fp32):
    results, _, _ = bf16_and_fp32
    peaks = json.loads(peak_tflops_path(results).read_text())
    for _, run in load_runs(results, "shortcut").iterrows():
        assert run["train_tflops"] == pytest.approx(3 * run["flops"] * run["images_per_s"] / 1e12)
        entry = peaks[peak_key(run["device_name"], run["precision"], torch.__version__)]
        assert run["peak_tflops"] == pytest.approx(entry["tflops"]) and "matmul" in entry["method"]
        assert run["mfu"] == pytest.approx(run["train_tflops"] / run["peak_tflops"])
        assert pd.isna(run["gpu_util_pct"])  # NVML is for GPUs
        # the machine's speed around training and around the latency timing: probes of the peak's kernels (the peak
        # itself was measured once, at another moment and load, so the two are not ordered; tests of the probe:
        # test_the_machine_probe_reads_a_busy_machine_slower, tests/test_compare.py)
        assert run["machine_tflops"] > 0 and run["latency_machine_tflops"] > 0
        started, finished = pd.to_datetime(run["started_at"]), pd.to_datetime(run["finished_at"])
        assert 0 < run["setup_s"] < (finished - started).total_seconds() + 10  # process start precedes started_at


@pytest.mark.slow  # its fixture trains in bf16: minutes on a CPU without AVX-512 (emulated)
def test_the_report_shows_the_settings_and_splits_experiments_by_them(bf16_and_fp32, tmp_path):
    results, _, _ = bf16_and_fp32
    done = bench("report", "--results", str(results), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "shortcut.md").read_text()
    assert "This results folder holds 2 experiments" in text
    bf16 = section(text, "precision bf16")
    fp32 = section(text, "precision fp32")
    assert "| speed settings | bf16 autocast, channels_last, compile off |" in bf16
    assert "| memory format |" not in bf16  # given by the user: nothing was measured
    assert "| speed settings | fp32, TF32 off, memory format chosen per variant by measurement, compile off |" in fp32
    # the header names the choice and the step times it was made on, as the row has them
    run = load_runs(results, "shortcut").query("precision == 'fp32'").iloc[0]
    chosen, other = ("channels_last", "contiguous (NCHW)") if run["channels_last"] else ("contiguous (NCHW)",
                                                                                         "channels_last")
    line = next(line for line in fp32.splitlines() if line.startswith("| memory format |"))
    found = re.fullmatch(rf"\| memory format \| resnet32: {re.escape(chosen)} \(([\d.]+) ms per training step; "
                         rf"{re.escape(other)} ([\d.]+) ms\) \|", line)
    assert found, line
    columns = ("step_ms_channels_last", "step_ms_nchw") if run["channels_last"] else ("step_ms_nchw",
                                                                                      "step_ms_channels_last")
    assert [float(v) for v in found.groups()] == pytest.approx([run[c] for c in columns], rel=0.01)
    assert "MFU (%)" in bf16 and "GPU util" not in bf16  # no GPU: the column is left out, not filled with dashes


def test_the_peak_is_measured_once_per_machine_and_copied_into_each_results_folder(tmp_path):
    """A first folder measures the peak and keeps it in the machine's file too; a second folder reads the machine's
    (a value planted there, which no measurement gives) and copies it, measuring nothing."""
    from bench.measure.utilization import peak_tflops

    speed, name = Speed(torch.device("cpu")), "a CPU (1 threads)"
    machine, first, second = tmp_path / "cache" / "peak_tflops.json", tmp_path / "a", tmp_path / "b"
    measured = peak_tflops(first / "peak_tflops.json", speed, name, machine)
    key = peak_key(name, speed.precision, torch.__version__)
    kept = json.loads(machine.read_text())[key]
    assert kept == json.loads((first / "peak_tflops.json").read_text())[key] and "matmul" in kept["method"]
    assert kept["tflops"] == measured > 0
    machine.write_text(json.dumps({key: {**kept, "tflops": 123.25}}))
    assert peak_tflops(second / "peak_tflops.json", speed, name, machine) == 123.25
    assert json.loads((second / "peak_tflops.json").read_text())[key]["tflops"] == 123.25
    assert peak_tflops(first / "peak_tflops.json", speed, name, machine) == measured  # the folder's own comes first


def test_the_machine_probe_reads_a_busy_machine_slower():
    """Real contention: one busy child process per core of the machine, which takes about half the CPU from the
    probe; the probe, taken in turns with and without them, reads that machine well under the
    MACHINE_DRIFT it is judged by."""
    import subprocess
    import sys

    from bench.measure.utilization import machine_tflops
    from bench.report.verdicts import MACHINE_DRIFT

    speed = Speed(torch.device("cpu"))
    alone, busy = [], []
    for _ in range(3):  # in turns, judged on medians: the other test worker's load comes and goes meanwhile
        alone.append(machine_tflops(speed))
        # one hog per core of the machine, not per torch thread: with fewer, the probe can run on a free core
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
        try:
            time.sleep(0.2)
            busy.append(machine_tflops(speed))
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    assert statistics.median(busy) < statistics.median(alone) / MACHINE_DRIFT ** 3, (alone, busy)


def test_mfu_arithmetic_by_hand():
    # ResNet-50 at 224 px: 4.089 GMACs per image (torchvision's metadata), so 8.178 GFLOPs forward; training
    # at 2,500 images/s is 3 × 8.178e9 × 2500 = 61.335e12 FLOP/s. Against a 989 TFLOP/s peak that is 6.20 %.
    achieved = train_tflops(2 * 4.089e9, 2500)
    assert achieved == pytest.approx(61.335)
    assert mfu(achieved, 989.0) == pytest.approx(0.06202, abs=1e-5)
    assert mfu(achieved, 0.0) is None


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))


def fit_tiny(precision: str = "fp32", compile: str = "off", channels_last: bool = False, epochs: int = 2):
    torch.manual_seed(0)
    data = load_dataset("fake", None, 16, 0, 0.2, CPU)
    model = tiny_net()
    recipe = Recipe(epochs=epochs, batch_size=64, input_size=16, precision=precision, compile=compile,
                    channels_last=channels_last, warmup_epochs=0)
    return model, list(fit(model, data, recipe, CPU, seed=0))


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_autocast_precisions_train_on_the_cpu(precision):
    before = tiny_net().state_dict()
    model, results = fit_tiny(precision, channels_last=True)
    assert [r.epoch for r in results] == [1, 2]
    assert all(0 < r.train.loss < 10 and r.train.images == 448 for r in results)  # 510 train images: 7 full batches of 64
    assert not torch.equal(model[0].weight, before["0.weight"])  # the weights moved
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
def test_compile_default_trains_a_tiny_net_and_keeps_compiling_out_of_the_epochs():
    _, eager = fit_tiny("fp32", "off")
    _, compiled = fit_tiny("fp32", "default")
    assert eager[0].compile_s is None
    compile_s = compiled[0].compile_s
    assert compile_s > 1.0  # inductor generates and builds C++: seconds, not milliseconds
    assert all(r.train.time_s < compile_s for r in compiled)  # it never lands inside an epoch
    # Same data, same weights at the start: the compiled step computes what the eager one does.
    assert [r.train.loss for r in compiled] == pytest.approx([r.train.loss for r in eager], rel=1e-3)


def test_the_probe_times_both_formats_and_leaves_model_and_generators_untouched():
    model = tiny_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = load_dataset("fake", None, 16, 0, 0.2, CPU)
    torch.manual_seed(1)
    rng = torch.get_rng_state()
    choice = probe_memory_format(model, data, Recipe(batch_size=16, input_size=16), Speed(CPU), rounds=2, steps=2)
    assert set(choice.step_s) == {False, True} and all(0 < s < 10 for s in choice.step_s.values())
    assert choice.channels_last == (choice.step_s[True] < choice.step_s[False]) and choice.probe_s > 0
    assert torch.equal(torch.get_rng_state(), rng)  # the run's random draws are the same as without the probe
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert model[0].weight.is_contiguous()  # the model itself stays in its format: the worker moves it
    assert Choice({False: 0.1, True: 0.1}, 0.0).channels_last is False  # a tie keeps NCHW


MOBILE = ["run", "--suite", "mobile-vs-resnet", "--variants", "mobilenet_v2", "--dataset", "digits", "--epochs", "2",
          "--set", "train_limit=640", "--set", "latency_processes=1", "--set", "precise_bn_batches=0", "--device", "cpu"]


AVX512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")  # what oneDNN's CPU kernels can use here


@pytest.mark.slow
def test_mobilenet_v2_trains_in_the_format_measured_faster_twice_as_fast_in_channels_last_with_avx512(tmp_path):
    """The default run times both memory formats and trains in the faster; a forced NCHW run is obeyed. With AVX-512
    (the CPU these figures were measured on) mobilenet_v2's depthwise convolutions are about twice as fast in
    channels_last, and the run must find that by itself; on an AVX2-only CPU the two formats were within 1% of
    each other (369.9 vs 367.8 ms per step), so there only the rule is checked, not which format wins."""
    chosen = bench(*MOBILE, *FORMAT_BY_MEASUREMENT, "--results", str(tmp_path))
    forced = bench(*MOBILE, "--no-channels-last", "--results", str(tmp_path))
    assert chosen.returncode == 0 and forced.returncode == 0, chosen.stderr + forced.stderr
    runs = load_runs(tmp_path, "mobile-vs-resnet").set_index("speed_chosen_by")
    auto, nchw = runs.loc["measurement"], runs.loc["user"]
    assert bool(auto["channels_last"]) == bool(auto["step_ms_channels_last"] < auto["step_ms_nchw"])  # the faster
    assert not nchw["channels_last"] and nchw["precision"] == auto["precision"] == "fp32"
    assert pd.isna(nchw["step_ms_nchw"]) and (pd.isna(nchw["speed_probe_s"]) or nchw["speed_probe_s"] == 0)  # not timed
    chosen_format = "channels_last" if auto["channels_last"] else "contiguous (NCHW)"
    assert f"memory format {chosen_format}, chosen by measurement" in chosen.stderr
    assert auto["experiment_hash"] != nchw["experiment_hash"]  # a given format is another recipe
    if not AVX512:
        return
    # The probe timed both formats in turn in one process, and the chosen run trained far faster than the forced one.
    # Measured on the AVX-512 machine: 1.9-2.4× per probe step (both formats in turn, one process), 1.8-2.3× in
    # images/s of the two runs alone; the 2× holds in most draws, not all, so the bounds sit below what was
    # measured, not at 2. The two runs are separate moments: beside another pytest worker (CI) their images/s ratio
    # read 1.44, so that bound only catches a format that was chosen but not trained in (the ratio would be ~1).
    assert auto["channels_last"]
    assert auto["step_ms_nchw"] >= 1.6 * auto["step_ms_channels_last"], auto[["step_ms_nchw", "step_ms_channels_last"]]
    assert auto["images_per_s"] >= 1.25 * nchw["images_per_s"], (auto["images_per_s"], nchw["images_per_s"])


def test_the_warm_up_restores_weights_in_place():
    model = tiny_net()
    optimizer = make_optimizer(model, Recipe(lr=0.5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pointers = {k: v.data_ptr() for k, v in model.state_dict().items()}
    speed = Speed(CPU)
    times = warm_up(model, model, optimizer, speed.scaler(), nn.CrossEntropyLoss(), lambda x: x.float() / 255,
                    (8, 3, 8, 8), 10, CPU, steps=2)
    assert len(times) == 2 and all(t > 0 for t in times)
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)  # BatchNorm's counters and statistics too
    assert {k: v.data_ptr() for k, v in after.items()} == pointers  # the same storage: compiled graphs stay valid
    assert not optimizer.state  # no momentum left over from the synthetic steps


def test_the_sampler_averages_what_it_reads_only_inside_its_windows():
    values = iter(range(1, 10_000))
    sampler = Sampler(lambda: next(values), interval_s=0.01)
    for _ in range(2):
        with sampler():
            time.sleep(0.1)
    taken = len(sampler.samples)
    time.sleep(0.05)
    assert len(sampler.samples) == taken >= 4  # nothing sampled between or after the windows
    assert sampler.samples == list(range(1, taken + 1))
    assert sampler.mean() == pytest.approx((taken + 1) / 2)
    assert Sampler(lambda: 1.0).mean() is None


def test_a_failing_reader_ends_sampling_not_the_run():
    def broken() -> float:
        raise RuntimeError("NVML went away")

    sampler = Sampler(broken, interval_s=0.01)
    with sampler():
        time.sleep(0.05)
    assert sampler.mean() is None


# ---------------------------------------------------------------- the overhead-bound warning

def cost_rows(results, macs: dict[str, int], images_per_s: dict[str, float], gpu_util: dict[str, float] | None = None):
    for variant in macs:
        write_run(results, variant, 0, 0.9, labels=tuple(macs), macs=macs[variant], images_per_s=images_per_s[variant],
                  gpu_util_pct=(gpu_util or {}).get(variant))


def test_flat_throughput_across_3x_macs_is_flagged(tmp_path):
    cost_rows(tmp_path / "r", {"resnet18": 37_000_000, "resnet18-stem3": 120_000_000},
              {"resnet18": 5400.0, "resnet18-stem3": 5000.0})  # 3.2× the MACs, 7 % slower
    text = report_of(tmp_path / "r", tmp_path)
    assert "**Overhead-bound:**" in text and "5400 vs 5000" in text and "3.2× the MACs" in text
    assert "--compile reduce-overhead" in text and "--batch-size" in text


def test_an_idle_gpu_is_flagged(tmp_path):
    cost_rows(tmp_path / "r", {"resnet18": 37_000_000, "resnet18-stem3": 60_000_000},
              {"resnet18": 5400.0, "resnet18-stem3": 3000.0}, {"resnet18": 35.0, "resnet18-stem3": 80.0})
    text = report_of(tmp_path / "r", tmp_path)
    assert "the GPU was busy only 35% (resnet18)" in text and "resnet18-stem3)" not in text.split("Overhead")[1][:200]
    assert "| GPU util (%) |" in text


def test_throughput_that_follows_the_macs_is_not_flagged(tmp_path):
    cost_rows(tmp_path / "r", {"resnet18": 37_000_000, "resnet18-stem3": 120_000_000},
              {"resnet18": 5400.0, "resnet18-stem3": 1800.0}, {"resnet18": 95.0, "resnet18-stem3": 97.0})
    assert "Overhead-bound" not in report_of(tmp_path / "r", tmp_path)


def test_precision_sets_tf32_both_ways():
    for precision, tf32 in (("tf32", True), ("fp32", False), ("bf16", False)):
        Speed(CPU, precision).apply_backends()
        if hasattr(torch.backends, "fp32_precision"):  # torch ≥ 2.9
            expected = "tf32" if tf32 else "ieee"
            assert torch.backends.cuda.matmul.fp32_precision == torch.backends.cudnn.conv.fp32_precision == expected
        else:
            assert torch.backends.cuda.matmul.allow_tf32 == torch.backends.cudnn.allow_tf32 == tf32
    Speed(CPU, "fp32").apply_backends()  # leave the process as the default run would


def test_a_run_stopped_before_its_format_was_chosen_does_not_stop_the_report(tmp_path):
    """A run cancelled before its probe (no `channels_last` yet) beside one that chose: the header names the choice
    of the one and the recipe's policy for the other (parquet reads the missing value as NA)."""
    write_run(tmp_path / "r", "resnet18", 0, 0.9, channels_last=True, speed_chosen_by="measurement", step_ms_nchw=20.0,
              step_ms_channels_last=10.0, precision="fp32", compile="off")
    write_run(tmp_path / "r", "resnet18-stem3", 0, 0.9, status="failed", precision="fp32", compile="off")
    text = report_of(tmp_path / "r", tmp_path)
    assert "| memory format | resnet18: channels_last (10.0 ms per training step; contiguous (NCHW) 20.0 ms) |" in text
    assert "memory format chosen per variant by measurement" in text
