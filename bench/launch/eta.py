"""The suite's time left, as the runner sees it: the wall seconds of the runs this command has finished, per unit of
their training's cost, times the cost of the runs still to do; divided by the runs going at once. A run's cost is its
epochs × the seconds per image of a training step that the memory-format probe measured for its variant on this
device (bench.plan.speed), or, for a variant not probed yet, its MACs per image, turned into seconds by the probed
variants' seconds per MAC (MACs alone while none is probed): mobilenet_v2 is cheap in MACs and among the slowest on a
CPU. Unknown until one run has finished. Each worker is told the estimate for the runs after its own
(bench.core.child.SUITE_REST_VARIABLE) and adds its own ETA to it (bench.worker.progress)."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable, Iterable

from ..core.child import PROGRESS_VARIABLE, SUITE_REST_VARIABLE
from ..plan.spec import RunSpec
from ..plan.speed import measured_step_s, read_choices
from ..store.paths import speed_choices_path


def variant_macs(specs: Iterable[RunSpec]) -> dict[str, int]:
    """MACs of one image at the run's input size, per variant (built untrained; one that cannot be built is left
    out and costs the mean of the rest)."""
    import models

    from ..measure.profile import profile_model

    found: dict[str, int] = {}
    for spec in specs:
        if spec.variant in found:
            continue
        try:
            model = models.get_variant(spec.variant).build(num_classes=10)
            found[spec.variant] = profile_model(model, spec.recipe.input_size).macs
        except Exception:  # an estimate only: the run itself reports a model that does not build
            continue
    return found


class SuiteEta:
    def __init__(self, macs: dict[str, int], parallel: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.macs, self.parallel, self.clock = macs, max(parallel, 1), clock
        self.started: dict[str, float] = {}
        self.spent_s, self.done = 0.0, []  # the finished ok runs and their wall seconds, summed

    def prices(self, specs: list[RunSpec]) -> dict[str, float]:
        """Each run's cost per epoch (by run_id): measured seconds per image where its variant was probed, else its
        MACs (or the mean of the known MACs) × the probed variants' median seconds per MAC, or MACs alone."""
        known = [m for m in self.macs.values() if m > 0]
        macs = {s.run_id: float(self.macs.get(s.variant) or (sum(known) / len(known) if known else 1.0)) for s in specs}
        folders = {s.results for s in specs}
        choices = {folder: read_choices(speed_choices_path(Path(folder))) for folder in folders}
        measured = {s.run_id: step / s.recipe.batch_size for s in specs
                    if (step := measured_step_s(s, choices[s.results])) is not None}
        scale = statistics.median(measured[r] / macs[r] for r in measured) if measured else 1.0
        return {s.run_id: measured.get(s.run_id, macs[s.run_id] * scale) for s in specs}

    def rest_s(self, specs: Iterable[RunSpec]) -> float | None:
        """Seconds the runs `specs` will take (None before the first run has finished)."""
        if not self.done:
            return None
        specs = list(specs)
        price = self.prices(specs + self.done)
        done_cost = sum(price[s.run_id] * s.recipe.epochs for s in self.done)
        return sum(price[s.run_id] * s.recipe.epochs for s in specs) * self.spent_s / done_cost / self.parallel

    def starting(self, spec: RunSpec, after: Iterable[RunSpec], share_terminal: bool = False
                 ) -> tuple[str, dict[str, str]]:
        """Note that `spec` starts, with `after` still waiting: (a note for its start line, its worker's
        environment)."""
        from ..store.metrics import duration

        self.started[spec.run_id] = self.clock()
        after = list(after)
        rest = self.rest_s(after)
        env = {PROGRESS_VARIABLE: "lines"} if share_terminal else {}
        if rest is None:
            return "", env
        env[SUITE_REST_VARIABLE] = f"{rest:.0f}"
        total = rest + (self.rest_s([spec]) or 0.0) * self.parallel
        return f"; suite ETA {duration(total)} ({len(after) + 1} run(s) to go)", env

    def ended(self, spec: RunSpec) -> None:
        """Count `spec`'s wall time when it finished with status ok (a run that failed early says nothing of
        speed)."""
        from ..store.shards import read_run_row
        from ..store.status import Status

        began = self.started.pop(spec.run_id, None)
        if began is None:
            return
        row = read_run_row(Path(spec.results), spec.suite, spec.run_id)
        if row is not None and row.status == Status.OK.value:
            self.spent_s += self.clock() - began
            self.done.append(spec)
