"""The registry: unique names, glob and tag listing, helpful errors, and every variant builds and runs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models.registry import Variant


def test_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="already registered under the name 'resnet18'"):
        models.register(Variant("resnet18", nn.Identity, "a second resnet18"))


def test_glob_and_tag_select_variants():
    names = [v.name for v in models.list_variants("resnet18-stem*")]
    assert names == ["resnet18-stem3", "resnet18-stem3-nolayer4", "resnet18-stem1-nolayer4"]
    assert [v.name for v in models.list_variants(tag="mobile")] == ["mobilenet_v2"]
    assert {v.name for v in models.list_variants("resnet*", tag="cifar")} == {"resnet32", "resnet47-bottleneck"}


def test_unknown_name_names_the_closest_variants():
    with pytest.raises(models.UnknownVariantError, match="closest: resnet18"):
        models.get_variant("resnt18")
    with pytest.raises(models.UnknownVariantError, match="'mobilenet_v3\\*'"):
        models.list_variants("mobilenet_v3*")


def test_every_variant_has_description_and_tags():
    for variant in models.list_variants():
        assert variant.description and "\n" not in variant.description, variant.name
        assert variant.tags, variant.name


ALL = [v.name for v in models.list_variants()]


@pytest.mark.parametrize("size, batch, classes", [(32, 2, 7), (224, 1, 1000)])
@pytest.mark.parametrize("name", ALL)
def test_every_variant_runs_a_forward_pass(name, size, batch, classes):
    model = models.build(name, num_classes=classes).eval()
    with torch.inference_mode():
        out = model(torch.randn(batch, 3, size, size))
    assert out.shape == (batch, classes) and torch.isfinite(out).all()


def test_plain_variants_have_no_shortcut_parameters():
    plain = models.build("resnet18-plain").state_dict()
    assert not any("downsample" in k for k in plain)
    assert not any("projection" in k for k in models.build("plain32").state_dict())
    # resnet32's only extra tensors are the two 1×1 projections at the stage transitions (8→16, 16→32).
    extra = sum(p.numel() for p in models.build("resnet32").parameters()) - sum(
        p.numel() for p in models.build("plain32").parameters())
    assert extra == 8 * 16 + 16 * 32


def test_stem_definitions_by_hand_count():
    # three 3×3 convs 3→32→32→64 plus two BNs between them, versus one 7×7 conv 3→64.
    stem3 = 27 * 32 + 2 * 32 + 288 * 32 + 2 * 32 + 288 * 64
    grow = stem3 - 147 * 64
    params = {v: sum(p.numel() for p in models.build(v).parameters()) for v in ("resnet18", "resnet18-stem3")}
    assert params["resnet18-stem3"] - params["resnet18"] == grow
    deep = models.build("resnet18-deepstem").conv1[0]
    assert deep.stride == (2, 2) and models.build("resnet18-stem3").conv1[0].stride == (1, 1)
    assert isinstance(models.build("resnet18-cifar").maxpool, nn.Identity)
    nolayer4 = models.build("resnet18-stem1-nolayer4", num_classes=5)
    assert nolayer4.fc.in_features == 256 and not hasattr(nolayer4, "layer4")


@pytest.mark.parametrize("name, blocks", [
    ("resnet18", 8),  # 2 basic blocks × 4 stages
    ("resnet50", 16),  # 3 + 4 + 6 + 3 bottlenecks
    ("resnet32", 15),  # CIFAR: 3 stages × 5 pre-activation blocks
    ("plain32", 0),  # no shortcut anywhere: nothing to zero
    ("resnet18-plain", 0),
])
def test_zero_init_residual_counts_the_blocks_with_a_shortcut(name, blocks):
    assert models.zero_init_residual(models.build(name)) == blocks


def test_a_zero_initialised_block_starts_as_the_identity():
    import torch

    model = models.build("resnet18")
    models.zero_init_residual(model)
    block = model.layer1[0].eval()  # identity shortcut, 64 → 64 channels
    x = torch.relu(torch.randn(2, 64, 8, 8))
    with torch.no_grad():
        assert torch.allclose(block(x), x)  # relu(x + bn2(...) with zero scale and zero shift) = x for x ≥ 0
    cifar = models.build("resnet32")
    models.zero_init_residual(cifar)
    assert sum(int(p.abs().sum() == 0) for n, p in cifar.named_parameters() if n.endswith("conv2.weight")) == 15
