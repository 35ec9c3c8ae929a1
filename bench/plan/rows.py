"""The run row of a spec before anything ran: identity, recipe and environment. The worker fills it in; a launcher
writes it as it is, with a status, for a run that ended without one."""
from __future__ import annotations

import dataclasses
import json

from ..store.schema import RunRow, now
from ..store.status import Status
from ..store.tuning import run_experiment_hash
from .spec import RunSpec


def new_row(spec: RunSpec) -> RunRow:
    """The run row before anything ran: identity, recipe, environment, and where the variant came from."""
    import models
    import torch

    from ..core.versions import package_version

    try:
        variant = models.get_variant(spec.variant)
        source, origin = variant.source, variant.origin
    except models.UnknownVariantError:  # an outside model not importable here (`bench status` elsewhere)
        source = origin = None
    return RunRow(
        run_id=spec.run_id, suite=spec.suite, variant=spec.variant, label=spec.label, weights=spec.weights or "none",
        dataset=spec.dataset, synthetic_data=spec.dataset == "fake", seed=spec.seed,
        status=Status.INTERRUPTED.value, input_size=spec.recipe.input_size, epochs=spec.recipe.epochs, epochs_run=0,
        device=spec.device, num_threads=torch.get_num_threads(), torch_version=torch.__version__,
        torchvision_version=package_version("torchvision"), git_sha=spec.git_sha, config_hash=spec.config_hash,
        experiment_hash=spec.experiment_hash, identity=json.dumps(spec.identity, sort_keys=True),
        recipe=json.dumps(dataclasses.asdict(spec.recipe)), latency_batch=spec.recipe.latency_batch,
        precision=spec.recipe.precision, channels_last=spec.recipe.channels_last, compile=spec.recipe.compile,
        suite_description=spec.suite_description, suite_labels=list(spec.suite_labels),
        suite_published=spec.suite_published, min_test_acc=spec.min_test_acc,
        on_suite_defaults=spec.on_suite_defaults, started_at=now(), role=spec.role, tuning=spec.tuning,
        tuning_hash=spec.tuning_hash, shared_experiment_hash=spec.shared_experiment_hash,
        tuned_experiment_hash=run_experiment_hash(spec.identity) if spec.tuning_hash else None,
        variant_source=source, variant_origin=origin)
