"""The profiler against torchvision's metadata, the ResNet paper, fvcore's stated convention and hand counts."""
from __future__ import annotations

import pytest
import torchvision
from torch import nn
from torchvision.models import get_weight

import models
from bench.profile import count_params, measure_latency_ms, profile_model

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
    assert profile.macs == pytest.approx(meta["_ops"] * 1e9, rel=0.05)
    assert profile.flops == 2 * profile.macs
    if variant.name in PAPER_GMACS:
        assert profile.macs == pytest.approx(PAPER_GMACS[variant.name] * 1e9, rel=0.10)


@pytest.mark.parametrize("name, mmacs", [("resnet18", 37.1), ("resnet18-stem3", 168.2), ("resnet18-cifar", 556.7)])
def test_macs_at_32px_10_classes(name, mmacs):
    assert profile_model(models.build(name, 10), 32, 10).macs / 1e6 == pytest.approx(mmacs, abs=0.05)


def test_fvcore_convention_on_a_hand_counted_net():
    # conv 3→4, 3×3, pad 1 on 8×8: 8·8·4·27 = 6,912 MACs; linear 256→5: 1,280 MACs; nothing else counted.
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(256, 5))
    profile = profile_model(net, input_size=8, num_classes=5)
    assert profile.macs == 6912 + 1280
    assert profile.flops == 2 * (6912 + 1280)
    assert profile.activations == 256 + 5  # output elements of the conv and the linear layer
    assert profile.params == 108 + 256 * 5 + 5
    assert profile.size_mb == pytest.approx(profile.params * 4 / 2**20)


def test_skipped_ops_are_named():
    profile = profile_model(models.build("resnet18"), 32, 10)
    assert "aten::add×8" in profile.skipped_ops  # the 8 residual additions carry no multiply-add


def test_trainable_params_follow_requires_grad():
    model = models.build("resnet18")
    for p in model.fc.parameters():
        p.requires_grad_(False)
    total, trainable = count_params(model)
    assert total - trainable == 512 * 10 + 10


def test_latency_is_a_positive_median():
    import torch

    assert measure_latency_ms(models.build("plain32"), 2, 32, torch.device("cpu"), warmup=1, repeats=3) > 0
