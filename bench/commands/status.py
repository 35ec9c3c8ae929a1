"""`bench status`: runs per status for each suite, the newest failures, SLURM jobs still queued."""
from __future__ import annotations

import shutil
from dataclasses import dataclass


from ..core.argtypes import StoreOnce, option
from ..core.errors import UsageError
from ..store.paths import DEFAULT_RESULTS


@dataclass
class StatusOptions:
    results: str = option(DEFAULT_RESULTS, "where `bench run` wrote (default %(default)s/)", action=StoreOnce)
    suite: str | None = option(None, "only this suite (default: every suite found)")


NEWEST_FAILURES = 5


def status(options: StatusOptions) -> int:
    """Per suite: runs per status, the newest failures with their errors, and its SLURM jobs still queued."""
    from pathlib import Path

    import pandas as pd

    from ..launch import slurm_states
    from ..store import quarantine
    from ..store.paths import slurm_manifests, submitted_suites
    from ..store.shards import load_runs, suites_in

    results = Path(options.results)
    submitted = submitted_suites(results)
    suites = [options.suite] if options.suite else sorted(set(suites_in(results)) | set(submitted))
    if not suites or (options.suite and not (results / options.suite).is_dir()):
        raise UsageError(f"no results in {results}/" + (f" for suite {options.suite}" if options.suite else "")
                         + ": run `bench run --suite NAME` first")
    set_aside_before = quarantine.count()  # damaged shards are set aside as they are read: counted at the end
    for suite in suites:
        manifests = slurm_manifests(results, suite)
        for path in manifests:  # tasks SLURM ended since: their rows say so before they are counted
            if shutil.which("scontrol") or shutil.which("sacct"):
                slurm_states.reconcile(path)
        runs = load_runs(results, suite)
        counts = runs["status"].value_counts().to_dict() if not runs.empty else {}
        print(f"{suite}: {len(runs)} run row(s): " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
        failed = runs[runs["status"] != "ok"].sort_values("finished_at", ascending=False, na_position="last") \
            if not runs.empty else runs
        for _, row in failed.head(NEWEST_FAILURES).iterrows():
            print(f"  {row['status']}: {row['label']} seed {row['seed']} ({row['run_id']}): {row['error'] or '-'}")
        if manifests and (shutil.which("squeue") or shutil.which("scontrol")):
            for array_id, live in slurm_states.pending_jobs(results, suite):
                states = pd.Series(list(live.values())).value_counts().to_dict()
                print(f"  SLURM job {array_id}: " + ", ".join(f"{n} {s.lower()}" for s, n in states.items()))
    quarantine.say_summary(set_aside_before, then="the counts above are of the rest")
    return 0
