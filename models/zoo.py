"""The built-in variants, as a table: name, builder, arguments, description, tags, torchvision weights."""
from __future__ import annotations

from .cifar import CifarNet
from .mobilenet import mobilenet_v2
from .variant import Variant
from .resnet import ResNet

R18 = {"depths": (2, 2, 2, 2), "block": "basic"}

# (name, builder, kwargs, description, tags, torchvision weights)
TABLE = [
    ("resnet18", ResNet, R18, "ResNet-18 as in torchvision / He et al. 2015: 7×7/2 stem, max-pool, 4 BasicBlock stages",
     ("resnet", "depth", "stem", "shortcut"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet34", ResNet, {"depths": (3, 4, 6, 3), "block": "basic"}, "ResNet-34 as in torchvision / He et al. 2015",
     ("resnet", "depth"), "ResNet34_Weights.IMAGENET1K_V1"),
    ("resnet50", ResNet, {"depths": (3, 4, 6, 3), "block": "bottleneck"},
     "ResNet-50 as in torchvision (v1.5: stride on the 3×3 of the bottleneck)",
     ("resnet", "depth"), "ResNet50_Weights.IMAGENET1K_V1"),
    ("resnet101", ResNet, {"depths": (3, 4, 23, 3), "block": "bottleneck"}, "ResNet-101 as in torchvision (v1.5)",
     ("resnet", "depth"), "ResNet101_Weights.IMAGENET1K_V1"),
    ("resnet152", ResNet, {"depths": (3, 8, 36, 3), "block": "bottleneck"}, "ResNet-152 as in torchvision (v1.5)",
     ("resnet", "depth"), "ResNet152_Weights.IMAGENET1K_V1"),
    ("mobilenet_v2", mobilenet_v2, {"width_mult": 1.0}, "MobileNetV2, width 1.0 (Sandler et al. 2018; torchvision's)",
     ("mobile",), "MobileNet_V2_Weights.IMAGENET1K_V1"),
    ("resnet18-stem3", ResNet, {**R18, "stem": "3x3-triple"},
     "resnet18 with the 7×7/2 conv replaced by three 3×3/1 convs 3→32→32→64, max-pool kept (seed table row 2)",
     ("resnet", "stem"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet18-stem3-nolayer4", ResNet, {"depths": (2, 2, 2), "block": "basic", "stem": "3x3-triple"},
     "resnet18-stem3 without layer4, classifier 256→classes (seed table row 3)",
     ("resnet", "stem", "depth"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet18-stem1-nolayer4", ResNet, {"depths": (2, 2, 2), "block": "basic", "stem": "3x3"},
     "one 3×3/1 conv 3→64 stem, max-pool kept, no layer4 (seed table row 4, two 3×3 convs fewer)",
     ("resnet", "stem", "depth"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet18-deepstem", ResNet, {**R18, "stem": "3x3-deep"},
     "resnet18 with the ResNet-C deep stem of Bag of Tricks (timm's resnet18d stem, no avg-down): 3×3/2, 3×3, 3×3, max-pool",
     ("resnet", "stem"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet18-cifar", ResNet, {**R18, "stem": "cifar"}, "resnet18 with one 3×3/1 conv stem and no max-pool (the usual CIFAR ResNet-18)",
     ("resnet", "stem"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("resnet18-plain", ResNet, {**R18, "shortcut": False}, "resnet18 with every shortcut removed (no identity, no projection)",
     ("resnet", "shortcut"), "ResNet18_Weights.IMAGENET1K_V1"),
    ("plain32", CifarNet, {"widths": (8, 16, 32), "block": "basic", "shortcut": False},
     "32-layer plain pre-activation CIFAR net: 3 stages × 5 blocks at widths 8/16/32, no shortcuts",
     ("cifar", "shortcut"), None),
    ("resnet32", CifarNet, {"widths": (8, 16, 32), "block": "basic", "shortcut": True},
     "32-layer pre-activation CIFAR ResNet: as plain32 with identity (1×1/2 conv when downsampling) shortcuts",
     ("cifar", "shortcut"), None),
    ("resnet47-bottleneck", CifarNet, {"widths": (32, 64, 128), "block": "bottleneck", "shortcut": True},
     "47-layer pre-activation CIFAR ResNet of bottleneck blocks (1×1 to C/4, 3×3, 1×1 to C) at widths 32/64/128",
     ("cifar", "shortcut"), None),
]

VARIANTS = [Variant(name, builder, description, tags, weights, kwargs)
            for name, builder, kwargs, description, tags, weights in TABLE]
