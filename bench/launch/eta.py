"""The suite's time left, as the runner sees it: the wall seconds of the runs this command has finished, per
multiply-add of their training (MACs × epochs), times the multiply-adds of the runs still to do; divided by the
runs going at once. Unknown until one run has finished. Each worker is told the estimate for the runs after its own
(bench.core.child.SUITE_REST_VARIABLE) and adds its own ETA to it (bench.worker.progress)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from ..core.child import PROGRESS_VARIABLE, SUITE_REST_VARIABLE
from ..plan.spec import RunSpec


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
        self.spent_s, self.done_cost = 0.0, 0.0

    def cost(self, spec: RunSpec) -> float:
        known = [m for m in self.macs.values() if m > 0]
        macs = self.macs.get(spec.variant) or (sum(known) / len(known) if known else 1.0)
        return float(macs) * spec.recipe.epochs

    def rest_s(self, specs: Iterable[RunSpec]) -> float | None:
        """Seconds the runs `specs` will take (None before the first run has finished)."""
        if not self.done_cost:
            return None
        return sum(self.cost(s) for s in specs) * self.spent_s / self.done_cost / self.parallel

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
            self.done_cost += self.cost(spec)
