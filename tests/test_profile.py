"""The profiler against torchvision's metadata, the ResNet paper, fvcore's stated convention and hand counts."""
from __future__ import annotations

import pytest
import torchvision
from torch import nn
from torchvision.models import get_weight

import models
from bench.measure.profile import count_params, measure_latency, profile_model

# Variants that claim to be torchvision's architectures: those whose name torchvision also registers.
TORCHVISION_EQUIVALENT = [v for v in models.list_variants() if v.name in torchvision.models.list_models()]
# He et al. 2015, Table 1, "FLOPs" (multiply-adds), ×10⁹.
PAPER_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}


def test_the_torchvision_set_is_what_the_issue_names():
    names = {v.name for v in TORCHVISION_EQUIVALENT}
    assert names == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2"}


@pytest.mark.parametrize("variant", TORCHVISION_EQUIVALENT, ids=lambda v: v.name)
def test_params_and_macs_match_torchvision_metadata(variant):
    meta = get_weight(variant.weights).meta
    profile = profile_model(variant.build(num_classes=1000), input_size=224, num_classes=1000)
    assert profile.params == meta["num_params"]
    # `_ops` counts conv + linear multiply-adds (labelled GFLOPS by torchvision): the same convention as macs.
    assert profile.macs == pytest.approx(meta["_ops"] * 1e9, rel=0.01)
    assert profile.flops == 2 * profile.macs
    assert profile.other_ops > 0  # batch norm and pooling: counted by fvcore, kept out of macs
    if variant.name in PAPER_GMACS:
        assert profile.macs == pytest.approx(PAPER_GMACS[variant.name] * 1e9, rel=0.10)


def conv_macs(out_side: int, out_ch: int, in_ch: int, kernel: int) -> int:
    """Multiply-adds of a conv: one per output element per input channel per kernel tap."""
    return out_side * out_side * out_ch * in_ch * kernel * kernel


def resnet18_body_macs(side: int) -> int:
    """The four BasicBlock stages of ResNet-18 entered at `side` × `side` × 64, by hand."""
    total, in_ch = 0, 64
    for stage, width in enumerate((64, 128, 256, 512)):
        if stage:
            side = (side + 1) // 2  # stride 2 in the first block (3×3 pad 1, or 1×1)
        total += conv_macs(side, width, in_ch, 3) + 3 * conv_macs(side, width, width, 3)
        if in_ch != width:
            total += conv_macs(side, width, in_ch, 1)  # the projection shortcut
        in_ch = width
    return total


# At 32 px with 10 classes, from the architecture's definition (README, models/zoo.py), not from a profiler.
HAND_MACS_32PX = {
    # 7×7/2 conv 3→64 (32→16), max-pool /2 → 8, body from 8, fc 512→10
    "resnet18": conv_macs(16, 64, 3, 7) + resnet18_body_macs(8) + 512 * 10,
    # three 3×3/1 convs 3→32→32→64 at 32, max-pool → 16
    "resnet18-stem3": conv_macs(32, 32, 3, 3) + conv_macs(32, 32, 32, 3) + conv_macs(32, 64, 32, 3)
    + resnet18_body_macs(16) + 512 * 10,
    # one 3×3/1 conv 3→64 at 32, no max-pool
    "resnet18-cifar": conv_macs(32, 64, 3, 3) + resnet18_body_macs(32) + 512 * 10,
}


@pytest.mark.parametrize("name", sorted(HAND_MACS_32PX))
def test_macs_at_32px_10_classes_equal_a_hand_count(name):
    assert profile_model(models.build(name, 10), 32, 10).macs == HAND_MACS_32PX[name]


def test_fvcore_convention_on_a_hand_counted_net():
    # conv 3→4, 3×3, pad 1 on 8×8: 8·8·4·27 = 6,912 MACs; linear 256→5: 1,280 MACs. The batch norm is fvcore's
    # business (other_ops), never a MAC.
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(256, 5))
    profile = profile_model(net, input_size=8, num_classes=5)
    assert profile.macs == 6912 + 1280 and profile.other_ops == 0
    assert profile.flops == 2 * (6912 + 1280)
    assert profile.activations == 256 + 5  # output elements of the conv and the linear layer
    assert profile.params == 108 + 256 * 5 + 5
    assert profile.size_mb == pytest.approx(profile.params * 4 / 2**20)
    with_bn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Flatten(),
                            nn.Linear(256, 5))
    bn = profile_model(with_bn, input_size=8, num_classes=5)
    assert bn.macs == 6912 + 1280 and bn.other_ops > 0


def test_skipped_ops_are_named():
    profile = profile_model(models.build("resnet18"), 32, 10)
    assert "aten::add×8" in profile.skipped_ops  # the 8 residual additions carry no multiply-add


def test_trainable_params_follow_requires_grad():
    model = models.build("resnet18")
    for p in model.fc.parameters():
        p.requires_grad_(False)
    total, trainable = count_params(model)
    assert total - trainable == 512 * 10 + 10


def test_latency_repeats_until_the_minimum_time_and_reports_its_spread():
    import torch

    latency = measure_latency(models.build("plain32"), 2, 32, torch.device("cpu"), warmup=1, min_calls=10,
                              min_time_s=0.3, threads=1)
    assert latency.calls >= 10 and latency.median_ms > 0 and latency.iqr_ms >= 0 and latency.threads == 1
    assert latency.calls * latency.median_ms >= 0.3 * 1000 * 0.5  # about 0.3 s of calls (median, not mean)
    assert torch.get_num_threads() >= 1
