"""Pretrained loading through the real code path: a state-dict file in a temporary TORCH_HOME, or a local path."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import models


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def cache_torchvision_resnet18(torch_home: Path) -> dict[str, torch.Tensor]:
    """Write a randomly initialised torchvision resnet18 where the hub cache keeps ResNet18_Weights.IMAGENET1K_V1."""
    state = torchvision.models.resnet18().state_dict()
    directory = torch_home / "hub" / "checkpoints"
    directory.mkdir(parents=True)
    torch.save(state, directory / "resnet18-f37072fd.pth")
    return state


def test_imagenet_weights_load_every_tensor(torch_home):
    state = cache_torchvision_resnet18(torch_home)
    model = models.build("resnet18", num_classes=1000, weights="imagenet")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name


def test_changed_stem_and_head_load_what_matches(torch_home):
    state = cache_torchvision_resnet18(torch_home)
    variant = models.get_variant("resnet18-stem3")
    model = variant.build(num_classes=10)
    fresh_fc = model.fc.weight.clone()
    report = models.load_pretrained(model, variant, "imagenet")
    # Skipped: the stem's three convs and two BNs (3 + 2×5 tensors, conv1.*) and the 10-way fc (weight, bias).
    stem_tensors = [k for k in model.state_dict() if k.startswith("conv1.")]
    assert len(stem_tensors) == 3 + 2 * 5
    assert sorted(report.skipped) == sorted(stem_tensors + ["fc.weight", "fc.bias"])
    assert len(report.loaded) == len(model.state_dict()) - len(report.skipped)
    assert sorted(report.unused) == ["conv1.weight", "fc.bias", "fc.weight"]
    assert torch.equal(model.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(model.fc.weight, fresh_fc)  # the classifier keeps its fresh 10-way init


def test_missing_weights_name_the_file_and_directory(torch_home):
    with pytest.raises(models.WeightsNotFoundError) as err:
        models.build("resnet50", weights="imagenet")
    message = str(err.value)
    assert "resnet50-0676ba61.pth" in message and str(torch_home / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_a_local_file_is_accepted(tmp_path):
    source = models.build("resnet32")
    torch.save({"state_dict": source.state_dict()}, tmp_path / "mine.pt")
    model = models.build("resnet32", weights=str(tmp_path / "mine.pt"))
    assert torch.equal(model.stem.weight, source.stem.weight)


def test_variant_without_weights_says_so():
    with pytest.raises(models.WeightsNotFoundError, match="'plain32' lists no pretrained weights"):
        models.build("plain32", weights="imagenet")
