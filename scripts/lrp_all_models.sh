#!/usr/bin/env bash
# LRP (EpsilonGammaBox and EpsilonPlusFlat) next to the masker, Grad-CAM and the gradient on the
# three shipped models, one run each on images they were never trained on (docs/REVIEW.md, weakness 5).
# Usage: bash scripts/lrp_all_models.sh [DATA_ROOT] [OUTPUT_ROOT]
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-docs/results/review/lrp}
METHODS=masker,gradcam,gradient,lrp_epsilon_gamma_box,lrp_epsilon_plus_flat
keras-saliency evaluate "$DATA/cifar10/train" --model cifar10 --split validation --limit 200 \
    --methods "$METHODS" --road-limit 16 --output "$OUT/cifar10"
keras-saliency evaluate "$DATA/tiny-imagenet-100/train" --model tiny-imagenet-100 --split validation \
    --boxes "$DATA/tiny-imagenet-100/train/boxes.csv" --limit 200 --methods "$METHODS" --road-limit 16 \
    --output "$OUT/tiny-imagenet-100"
keras-saliency evaluate "$DATA/imagenet-val-dev/images" --model imagenet-darknet-tiny \
    --boxes "$DATA/imagenet-val-dev/boxes.csv" --subset docs/results/imagenet-val-dev/split.csv --limit 200 \
    --methods "$METHODS" --road-limit 16 --faithfulness-limit 100 --output "$OUT/imagenet-darknet-tiny"
