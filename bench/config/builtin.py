"""The built-in suites, as data: each names its variants, a data set, the recipe it changes and the published
figures it is read against. Add one `Suite(...)` to SUITES to add a suite."""
from __future__ import annotations

import dataclasses

from .recipe import Recipe
from .suite import Entry, Published, Suite, entries


# The ImageNet-1K top-1 accuracy (%) torchvision's weights metadata gives each set of weights
# (`get_weight(name).meta["_metrics"]["ImageNet-1K"]["acc@1"]`). Written here, not read at import: reading it
# imports torchvision, seconds a `bench run` need not pay; tests/test_published.py checks each figure against it.
IMAGENET_TOP1 = {"ResNet18_Weights.IMAGENET1K_V1": 69.758, "ResNet34_Weights.IMAGENET1K_V1": 73.314,
                 "ResNet50_Weights.IMAGENET1K_V1": 76.13, "ResNet101_Weights.IMAGENET1K_V1": 77.374,
                 "ResNet152_Weights.IMAGENET1K_V1": 78.312}


def imagenet_top1(*variants_and_weights: tuple[str, str]) -> tuple[tuple[str, float], ...]:
    """(label, acc@1): the ImageNet-1K top-1 accuracy torchvision's metadata gives the weights."""
    return tuple((label, IMAGENET_TOP1[weights]) for label, weights in variants_and_weights)


# What the suites' promises mean on digits (898 test images): 90% is ~90 images wrong out of 898, far above
# chance (10%) and below what every residual variant reaches once trained to a plateau (97-99%).
TRAINED = 0.90

# Published figures (bench.config.suite.Published), in the report's units: accuracies in %, times in s.
KUANGLIU = "kuangliu/pytorch-cifar, README accuracy table"
KUANGLIU_SETTING = ("CIFAR-adapted nets (3×3 stride-1 stem, no max-pool), 200 epochs of SGD with cosine decay, "
                    "crop + flip, 32 px")
TORCHVISION_IMAGENET = ("torchvision's weights metadata (`IMAGENET1K_V1`, acc@1)", "ImageNet-1K (val)",
                        "the ImageNet recipe of torchvision's references, 224 px crops; the figure is the starting "
                        "weights' own ImageNet accuracy")

STEM_WRITEUP = Published(
    "the stem-ablation write-up this project grew from (its seed table)", "that write-up's image data set",
    "best_val_acc", (("resnet18", 76.1), ("resnet18-stem3", 84.6), ("resnet18-stem3-nolayer4", 85.9),
                     ("resnet18-stem1-nolayer4", 84.7)),
    "that write-up's own recipe, input size and hardware; its figure is the best accuracy over epochs")
STEM_WRITEUP_TIME = dataclasses.replace(
    STEM_WRITEUP, metric="epoch_time_s",
    values=(("resnet18", 40.0), ("resnet18-stem3", 186.0), ("resnet18-stem3-nolayer4", 48.0),
            ("resnet18-stem1-nolayer4", 39.0)),
    setting="that write-up's own recipe, input size and hardware; seconds per training epoch")


# The recipes. Every built-in suite trains on digits: 720 training images, so an epoch is only 11 steps at batch 64
# (22 at batch 32), and what decides whether a comparison means anything is the number of steps. Measured on
# 2 CPU cores before choosing (one seed each; the figures are in the committed reports): the old shared recipe
# (6 epochs, cosine, lr 0.05) left resnet50-152 at 16-19% test accuracy and the CIFAR nets at 29-34%.
# Shared choices, and why:
# - schedule="step" (÷10 at 50% and 75% of the steps): the ResNet papers' own. Its last quarter, at 1/100 of the
#   peak, is a plateau that `plateaued` can see; cosine gains until its very last steps, so on a 179-image
#   validation split a cosine run's last third kept "rising" by the two images that make one point.
# - zero_init_residual=True: each residual block starts as the identity (Goyal et al. 2017; "Bag of Tricks"), so
#   the bottleneck nets learn from the first steps instead of sitting at chance for epochs. Plain blocks are left
#   as they are, which is what the shortcut suite compares. Pretrained weights overwrite it.
# - one recipe per suite for all its variants: the slowest learner sets the epochs.
# The shared recipe is Recipe()'s own defaults: batch 32, lr 0.05 (0.1 × 32/64, the linear scaling rule), 16 epochs
# (every depth and stem plateaus by epoch ~12; resnet152, ~15 s an epoch here, sets the budget), step schedule and
# zero_init_residual. Batch 32 gives twice the steps per epoch of batch 64: resnet101/152 and the stem variants
# without layer4 need ~200 steps at full rate before they settle, and on a CPU batch 32 costs only ~1.4× per
# image. At batch 64 and lr 0.1 the stems needed 20 epochs (12 left half of them still climbing) and two seeds took
# 14 minutes; at batch 32 one seed of 16 epochs takes ~6.
SMALL_BATCH_RECIPE = Recipe()
STEM_RECIPE = SMALL_BATCH_RECIPE
DEPTH_RECIPE = SMALL_BATCH_RECIPE
PRETRAINED_RECIPE = dataclasses.replace(
    SMALL_BATCH_RECIPE, epochs=20)  # resnet50 from scratch settles by epoch ~12 of 20 (at 16 its first 8 were short)
MOBILE_RECIPE = Recipe(
    batch_size=64,
    epochs=30,  # mobilenet_v2 needs ~15 epochs to settle on digits, resnet18 ~8; 30 leaves a flat last third
    lr=0.05,  # at 0.1 mobilenet_v2's training loss jumped to 5.3 in epoch 2 and never recovered (47% val)
    warmup_epochs=3)  # its depthwise convolutions need a gentler start than the ResNet
SHORTCUT_RECIPE = Recipe(
    batch_size=64,
    epochs=30,  # plain32 is the slowest learner (no shortcut, 31 layers): it settles around epoch 15-18
    lr=0.1)  # at 0.05 (cosine, 30 epochs) plain32 was still climbing at epoch 23


SUITES: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("stem-ablation", "ResNet-18 stems: 7×7/2 vs three 3×3, then without layer4 (the seed table's four rows)",
              entries("resnet18", "resnet18-stem3", "resnet18-stem3-nolayer4", "resnet18-stem1-nolayer4",
                      min_test_acc=TRAINED),
              recipe=STEM_RECIPE,
              seeds=1, published=(STEM_WRITEUP, STEM_WRITEUP_TIME)),
        Suite("mobile-vs-resnet", "MobileNetV2 against ResNet-18 under one recipe",
              entries("resnet18", "mobilenet_v2", min_test_acc=TRAINED),
              recipe=MOBILE_RECIPE,
              published=(
                  Published(KUANGLIU, "CIFAR-10 (test)", "test_acc", (("resnet18", 93.02), ("mobilenet_v2", 94.43)),
                            KUANGLIU_SETTING + "; MobileNetV2 with its first strides set to 1", "cifar10"),
                  Published("zalandoresearch/fashion-mnist, README benchmark table", "Fashion-MNIST (test)",
                            "test_acc", (("resnet18", 94.9), ("mobilenet_v2", 95.0)),
                            "contributed runs with their own recipes; the table's 'MobileNet' entry does not say "
                            "which version", "fashion-mnist"))),
        Suite("pretrained-vs-scratch", "ResNet-18 and ResNet-50, from scratch and from torchvision's ImageNet weights",
              (Entry("resnet18", min_test_acc=TRAINED), Entry("resnet18", "imagenet"),
               Entry("resnet50", min_test_acc=TRAINED), Entry("resnet50", "imagenet")),
              recipe=PRETRAINED_RECIPE,
              published=(
                  Published(KUANGLIU, "CIFAR-10 (test)", "test_acc", (("resnet18", 93.02), ("resnet50", 93.62)),
                            KUANGLIU_SETTING + ", from scratch", "cifar10"),
                  Published(*TORCHVISION_IMAGENET[:2], "test_acc",
                            imagenet_top1(("resnet18 (imagenet)", "ResNet18_Weights.IMAGENET1K_V1"),
                                          ("resnet50 (imagenet)", "ResNet50_Weights.IMAGENET1K_V1")),
                            TORCHVISION_IMAGENET[2] + " (Kornblith et al. 2019 found fine-tuned accuracy to follow it)"),
              )),
        Suite("depth", "ResNet depth: 18, 34, 50, 101, 152 layers",
              entries("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", min_test_acc=TRAINED),
              recipe=DEPTH_RECIPE,
              published=(
                  Published(*TORCHVISION_IMAGENET[:2], "test_acc",
                            imagenet_top1(*((f"resnet{d}", f"ResNet{d}_Weights.IMAGENET1K_V1")
                                            for d in (18, 34, 50, 101, 152))), TORCHVISION_IMAGENET[2]),
                  Published(KUANGLIU, "CIFAR-10 (test)", "test_acc",
                            (("resnet18", 93.02), ("resnet50", 93.62), ("resnet101", 93.75)), KUANGLIU_SETTING,
                            "cifar10"))),
        Suite("shortcut", "Plain vs residual: CIFAR-style 32/47-layer nets and ResNet-18 with and without shortcuts",
              (Entry("plain32"), Entry("resnet32", min_test_acc=TRAINED),
               Entry("resnet47-bottleneck", min_test_acc=TRAINED), Entry("resnet18-plain"),
               Entry("resnet18", min_test_acc=TRAINED)),
              recipe=SHORTCUT_RECIPE,
              published=(
                  Published("He et al. 2015, Table 2 (100 − top-1 error, 10-crop)", "ImageNet-1K (val)", "test_acc",
                            (("resnet18-plain", 72.06), ("resnet18", 72.12)),
                            "the paper's ImageNet recipe, 224 px crops; plain-18 and ResNet-18 as in the paper"),
                  Published("He et al. 2015, Table 6 (100 − error)", "CIFAR-10 (test)", "test_acc",
                            (("resnet32", 92.49),),
                            "the paper's post-activation ResNet-32 (widths 16/32/64), 64k iterations, crop + flip",
                            "cifar10"))),
    ]
}
