"""What `bench run` does with each planned run: skip it (an `ok` row of its identity exists) or run it, and why."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.hashing import differences
from ..store.identity import changes
from ..store.resume import ResumePoint, read_point
from ..store.shards import PARSED, load_runs
from ..store.status import Status
from .spec import RunSpec


def finished_runs(results: str, suite: str) -> pd.DataFrame:
    """The suite's `ok` rows, newest first."""
    runs = load_runs(Path(results), suite)
    return runs[runs["status"] == Status.OK.value].sort_values("finished_at", ascending=False)


def decision(spec: RunSpec, finished: pd.DataFrame, force: bool) -> str:
    """What `bench run` will do with `spec`: "skip (done at …)", or "run" and why."""
    done = finished[finished["config_hash"] == spec.config_hash]
    if not done.empty:
        when = pd.to_datetime(done["finished_at"].iloc[0]).strftime("%Y-%m-%d %H:%M UTC")
        return f"run again (--force; done at {when})" if force else f"skip (done at {when})"
    point = resume_point(spec)
    if point is not None:
        return f"resume {point.run_id} after epoch {point.epoch} of {point.epochs} (its checkpoint)"
    return "run" + change_note(spec, finished)


def resumed(spec: RunSpec) -> RunSpec:
    """`spec` as the run it resumes, when a stopped run of its identity left a checkpoint: its run id, so that the
    resumed run's row takes the stopped run's place (bench.store.resume)."""
    import dataclasses

    point = resume_point(spec)
    return spec if point is None else dataclasses.replace(spec, run_id=point.run_id)


def resume_point(spec: RunSpec) -> ResumePoint | None:
    """The resume note of `spec`'s identity when it can be trusted with a run id: one of this identity (run ids
    carry the config hash's start, bench.plan.spec.new_run_id) whose row, if any, is of this identity and not
    `ok`. Any other note (copied, edited) is named in one line and ignored: it would overwrite another run's row."""
    import sys

    from ..store.shards import read_run_row

    point = read_point(Path(spec.results), spec.suite, spec.config_hash)
    if point is None:
        return None
    why = None if f"-{spec.config_hash[:8]}-" in point.run_id else "a run id of another identity"
    if why is None:
        try:
            row = read_run_row(Path(spec.results), spec.suite, point.run_id)
        except Exception:  # a damaged shard (bench.store.shards names it): no row to trust
            row = None
        if row is not None and row.config_hash != spec.config_hash:
            why = "the run id of a row of another identity"
        elif row is not None and row.status == Status.OK.value:
            why = "the run id of a finished ok row"
    if why is None:
        return point
    if (spec.suite, spec.config_hash) not in UNTRUSTED:
        UNTRUSTED.add((spec.suite, spec.config_hash))
        print(f"bench: {spec.title}: its resume note names {why} ({point.run_id}); ignored: the run is given a new "
              "run id", file=sys.stderr)
    return None


UNTRUSTED: set[tuple[str, str]] = set()  # (suite, config hash) of the notes already named


def change_note(spec: RunSpec, finished: pd.DataFrame) -> str:
    """Which part of the identity differs from the closest finished row (same label and seed first)."""
    candidates = finished[finished["identity"].notna()]
    if candidates.empty:
        return " (no finished run to compare with)"

    def distance(row: pd.Series) -> tuple[int, int, int]:
        return (row["label"] != spec.label, row["seed"] != spec.seed,
                len(differences(row[PARSED["identity"]], spec.identity)))
    closest = min((row for _, row in candidates.iterrows()), key=distance)
    changed = changes(closest[PARSED["identity"]], spec.identity)
    return f" — differs from {closest['run_id']} in: {'; '.join(changed)}"


def plan_lines(specs: list[RunSpec], finished: pd.DataFrame, force: bool) -> list[str]:
    """`--dry-run`: one line per planned run, what `bench run` would do with it, and why."""
    return [f"[{i}/{len(specs)}] {s.title}: {decision(s, finished, force)}"
            for i, s in enumerate(specs, 1)]
