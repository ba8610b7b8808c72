#!/usr/bin/env bash
# The shipped ImageNet masker (imagenet-darknet-tiny) against Grad-CAM, the gradient and a centre box
# on the same Darknet classifier, on real ImageNet photos it was not trained on: Tiny ImageNet-100
# training images (64x64 ImageNet photos with one object box each), upsampled to 224x224.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/imagenet-darknet-tiny}
keras-saliency evaluate "$DATA/tiny-imagenet-100/train" --model imagenet-darknet-tiny \
    --boxes "$DATA/tiny-imagenet-100/train/boxes.csv" --methods masker,gradcam,gradient,centre_box,full_image \
    --limit 300 --seed 0 --output "$OUT"
