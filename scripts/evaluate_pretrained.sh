#!/usr/bin/env bash
# The evaluation runs behind docs/RESULTS.md (the shipped models on their held-out validation splits).
# Usage: bash scripts/evaluate_pretrained.sh [DATA_ROOT] [OUTPUT_ROOT]
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-results}
keras-saliency evaluate "$DATA/cifar10/train" --model cifar10 --split validation --limit 300 \
    --scale-corrected --output "$OUT/cifar10"
keras-saliency evaluate "$DATA/tiny-imagenet-100/train" --model tiny-imagenet-100 --split validation \
    --boxes "$DATA/tiny-imagenet-100/train/boxes.csv" --limit 300 --output "$OUT/tiny-imagenet-100"
