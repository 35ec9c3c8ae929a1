"""Progress a person can see: plain lines in a log by the rule (at least every 30 s in a long epoch, never two within
10 s), a live line on a terminal, ETAs from the pace measured so far, and the suite's ETA from the MACs of the rest.
Timed with a fake clock: the rule is checked exactly, whatever the machine's speed."""
from __future__ import annotations

import json

import io
import re
from pathlib import Path

import pytest

from bench.config.recipe import Recipe
from bench.launch.eta import SuiteEta
from bench.plan.rows import new_row
from bench.plan.spec import RunSpec
from bench.store.metrics import duration, significant
from bench.store.paths import runs_dir
from bench.store.shards import write_shard
from bench.worker.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Stamped(io.StringIO):
    """A log that notes the fake time of each line written."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.times = clock, []

    def write(self, text: str) -> int:
        self.times += [self.clock.now] * text.count("\n")
        return super().write(text)


def train(progress: Progress, clock: Clock, epochs: int, steps: int, step_s: float, batch: int, eval_s: float = 0.0):
    for epoch in range(1, epochs + 1):
        progress.step(epoch, 0)  # as the training loop says when an epoch begins
        for step in range(1, steps + 1):
            clock.now += step_s
            progress.step(epoch, step * batch)
        clock.now += eval_s
        progress.epoch_done(epoch, 0.5, "train loss 1.000, val acc 50.0%")


def test_a_long_epoch_in_a_log_gets_a_line_at_least_every_30_s_and_never_two_within_10_s():
    clock = Clock()
    log = Stamped(clock)
    clock.now += 12.0  # data loading and warm-up after the progress began
    progress = Progress("resnet18 s0", 3, 48_000, log, live=False, clock=clock)
    train(progress, clock, epochs=3, steps=1500, step_s=0.35, batch=32, eval_s=4.0)  # 525 s an epoch
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    during = [(t, line) for t, line in zip(log.times, lines) if " images, " in line]
    assert len(during) >= 3 * 525 // 30
    times = [progress.started] + log.times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 30 and min(gaps) >= 10
    match = re.fullmatch(r"resnet18 s0 epoch 2/3: ([\d,]+)/48,000 images, ([\d,]+) images/s, val acc 50\.0% after "
                         r"epoch 1; run ETA (.+)", during[len(during) // 2][1])
    assert match and int(match[2].replace(",", "")) == round(32 / 0.35)


def test_short_epochs_in_a_log_are_thinned_to_one_line_per_10_s():
    clock = Clock()
    log = Stamped(clock)
    progress = Progress("tiny s0", 40, 320, log, live=False, clock=clock)
    train(progress, clock, epochs=40, steps=10, step_s=0.2, batch=32, eval_s=1.0)  # 3 s an epoch, 120 s in all
    gaps = [b - a for a, b in zip(log.times, log.times[1:])]
    assert len(log.times) >= 120 // 12 and min(gaps) >= 10
    assert all(line.startswith("tiny s0 epoch ") for line in log.getvalue().splitlines())


def test_the_run_eta_follows_the_measured_pace():
    clock = Clock()
    progress = Progress("r s0", 10, 1000, io.StringIO(), live=False, clock=clock)
    train(progress, clock, epochs=1, steps=10, step_s=0.9, batch=100, eval_s=1.0)  # 10 s an epoch
    assert progress.run_eta_s(clock.now) == pytest.approx(90.0)
    progress.step(2, 0)
    for step in range(1, 6):  # half of epoch 2
        clock.now += 0.9
        progress.step(2, step * 100)
    assert progress.run_eta_s(clock.now) == pytest.approx(8.5 * 10.0)
    fresh = Progress("r s1", 4, 1000, io.StringIO(), live=False, clock=clock)
    clock.now += 3.0  # warm-up: not training
    fresh.step(1, 0)
    clock.now += 2.0
    fresh.step(1, 200)  # 200 images in 2 s: 100 images/s, 3,800 images to go
    assert fresh.run_eta_s(clock.now) == pytest.approx(38.0)


def test_the_suite_eta_adds_the_runs_after_this_one_and_shows_on_each_line():
    clock = Clock()
    log = Stamped(clock)
    progress = Progress("r s0", 2, 100, log, live=False, suite_rest_s=600.0, clock=clock)
    train(progress, clock, epochs=1, steps=10, step_s=1.5, batch=10)  # 15 s an epoch: 15 s of this run left
    assert log.getvalue().splitlines() == ["r s0 epoch 1/2: train loss 1.000, val acc 50.0%; run ETA 15 s, "
                                           "suite ETA 10 min 15 s"]


def test_a_terminal_gets_one_live_line_redrawn_in_place():
    clock = Clock()
    out = io.StringIO()
    progress = Progress("r s0", 2, 3200, out, live=True, clock=clock)
    train(progress, clock, epochs=2, steps=100, step_s=0.1, batch=32)
    progress.finish("test acc 90.0%")
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("in 20 s\n")  # one line, ended when the run ends
    redraws = text.count("\r\x1b[K")
    assert 20 / 0.5 - 2 <= redraws <= 20 / 0.5 + 4  # about every 0.5 s, not every step (200 steps)


def spec(tmp_path, variant: str, epochs: int) -> RunSpec:
    return RunSpec("s", variant, None, variant, "digits", None, Recipe(epochs=epochs), 0, "cpu", str(tmp_path), "x")


def finished(s: RunSpec, status: str = "ok") -> None:
    """The run's row, as its worker writes it when it ends."""
    row = new_row(s)
    row.status = status
    write_shard([row], runs_dir(Path(s.results), s.suite), s.run_id)


def test_suite_eta_prices_the_rest_by_their_macs_from_the_finished_runs(tmp_path):
    clock = Clock()
    small, big, later, broken = (spec(tmp_path, "a", 2), spec(tmp_path, "b", 2), spec(tmp_path, "c", 4),
                                 spec(tmp_path, "d", 2))
    eta = SuiteEta({"a": 1_000_000, "b": 3_000_000, "c": 1_000_000}, clock=clock)
    note, env = eta.starting(small, [big, later])
    assert note == "" and "BENCH_SUITE_REST_S" not in env  # nothing finished: nothing to say yet
    clock.now += 100.0
    finished(small)
    eta.ended(small)  # 100 s for 2 M MAC-epochs: 50 µs per MAC-epoch
    note, env = eta.starting(big, [later])
    assert env["BENCH_SUITE_REST_S"] == "200"  # c: 4 epochs of 1 M = 4 M MAC-epochs
    assert note == "; suite ETA 8 min 20 s (2 run(s) to go)"  # b's 300 s and c's 200 s
    clock.now += 5.0
    finished(big, "failed")
    eta.ended(big)  # failed in 5 s: says nothing of speed
    assert eta.rest_s([later]) == pytest.approx(200.0)
    assert eta.rest_s([broken]) == pytest.approx(100 / 2e6 * (5e6 / 3) * 2)  # unknown MACs: the mean of the rest
    assert SuiteEta(eta.macs, parallel=2, clock=clock).rest_s([later]) is None
    halved = SuiteEta({"a": 1_000_000, "c": 1_000_000}, parallel=2, clock=clock)
    halved.starting(small, [])
    clock.now += 100.0
    halved.ended(small)
    assert halved.rest_s([later]) == pytest.approx(100.0)  # 200 s of work over 2 runs at once
    assert halved.rest_s([later, later]) == pytest.approx(200.0)


def test_suite_eta_prices_runs_by_the_step_times_the_probe_measured(tmp_path):
    """a and b cost the same MACs, but the probe measured b's step 9× slower: b is priced 9×; c, not probed yet,
    by its MACs at the probed variants' median seconds per MAC."""
    from bench.plan.speed import choice_key
    from bench.store.paths import speed_choices_path

    clock = Clock()
    a, b, c = spec(tmp_path, "a", 2), spec(tmp_path, "b", 2), spec(tmp_path, "c", 2)
    speed_choices_path(tmp_path).write_text(json.dumps({
        choice_key(a): {"channels_last": True, "step_ms_channels_last": 10.0, "step_ms_nchw": 30.0},
        choice_key(b): {"channels_last": False, "step_ms_channels_last": 100.0, "step_ms_nchw": 90.0}}))
    eta = SuiteEta({"a": 1_000_000, "b": 1_000_000, "c": 3_000_000}, clock=clock)
    eta.starting(a, [b, c])
    clock.now += 100.0
    finished(a)
    eta.ended(a)  # 100 s at 10 ms a step
    assert eta.rest_s([b]) == pytest.approx(900.0)  # 90 ms a step, in the format chosen
    # c: 3× a's MACs at the median seconds per MAC of a and b (50 ms a step for 1 M MACs): 15× a's 50 s an epoch
    assert eta.rest_s([b, c]) == pytest.approx(900.0 + 1500.0)
    assert SuiteEta({"a": 1_000_000, "b": 1_000_000}).prices([a, b]) == pytest.approx(
        {a.run_id: 0.01 / 32, b.run_id: 0.09 / 32})  # seconds per image at the recipe's batch of 32


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0.4, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"),
                                           (3599, "59 min 59 s"), (7620, "2 h 07 min")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("value, text", [(0.036995, "0.0370"), (11.18, "11.2"), (2.8, "2.80"), (42.0, "42.0"),
                                         (312.4, "312"), (1400.2, "1400"), (0.00123, "0.00123"), (0.0, "0")])
def test_three_significant_digits_never_in_exponent_form(value, text):
    assert significant(value) == text
