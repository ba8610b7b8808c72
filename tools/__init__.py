"""Maintainer tools, not installed with the package: the recipes that trained the shipped models
(`tools.recipes` for CIFAR-10 and Tiny ImageNet-100, `tools.imagenet_recipe` for the ImageNet
masker), written against the public training API. Run them from the repository (the `scripts/`
entry points put the repository root on `sys.path`)."""
