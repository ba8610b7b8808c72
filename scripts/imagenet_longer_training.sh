#!/usr/bin/env bash
# Does more training, a stronger area penalty, 56x56 masks or weight averaging make the shipped
# ImageNet masker localise better? The shipped recipe with area weight 6 for 20 epochs of 50 steps
# (32,000 image passes) and the same with 56x56 masks (mask stride 4), every snapshot scored on the
# dev split's calibration photos only (each half with the other half's threshold: 429 photos), next
# to the shipped masker and Grad-CAM on the same photos. The test photos are not read.
#   RUNS=runs bash scripts/imagenet_longer_training.sh
# Training runs resume from their checkpoints when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}; OUT=docs/results/imagenet-val-dev/selection-crossfit
shipped=(--set 'decoder_filters=[32]' --set decoder='"fpn"' --set class_gate='"classifier_image"'
         --set gate_options='{"local": "cam", "scale": 6.0, "offset": -1.0, "rate": 10.0}' --set head='"sigmoid"'
         --set objective='"simplified"' --set dev_data='"imagenet-val-dev"' --set steps_per_epoch=50
         --set masker_overrides='{"area_weight": 6.0}')
python scripts/train_imagenet_masker.py --output "$RUNS/area6" "${shipped[@]}" --set mask_stride=8 --set epochs=20
python scripts/train_imagenet_masker.py --output "$RUNS/area6-s4" "${shipped[@]}" --set mask_stride=4 --set epochs=10
select=(--selection --cross-fit)
python scripts/imagenet_curve.py --run "$RUNS/area6" --output "$OUT/area6" --every 2 "${select[@]}"
python scripts/imagenet_curve.py --run "$RUNS/area6" --output "$OUT/area6-gradcam" --epoch 8 --method gradcam "${select[@]}"
for a in 1-20 6-15 11-20; do
  python scripts/imagenet_curve.py --run "$RUNS/area6" --output "$OUT/area6-avg$a" --average "$a" "${select[@]}"
done
python scripts/imagenet_curve.py --run "$RUNS/area6-s4" --output "$OUT/area6-s4" --epoch 1 --epoch 4 --epoch 7 --epoch 10 "${select[@]}"
# The shipped masker as a one-snapshot run (its recipe: area weight 3, 10 epochs)
mkdir -p "$RUNS/shipped/snapshots"
python - "$RUNS" <<'EOF'
import json, sys
from keras_saliency import pretrained
runs = sys.argv[1]
json.dump(pretrained.info("imagenet-darknet-tiny")["recipe"], open(f"{runs}/shipped/recipe.json", "w"))
pretrained.load("imagenet-darknet-tiny").save_weights(f"{runs}/shipped/snapshots/epoch-010.weights.h5")
EOF
python scripts/imagenet_curve.py --run "$RUNS/shipped" --output "$OUT/shipped" "${select[@]}"
# 40,000 more photos, of 64 px: the shipped recipe (area weight 3) with Tiny ImageNet-100 for half of every batch
python scripts/train_imagenet_masker.py --output "$RUNS/tiny-extra" "${shipped[@]}" --set mask_stride=8 --set epochs=10 \
    --set masker_overrides='{"area_weight": 3.0}' --set extra_data='"tiny-imagenet-100/train"'
python scripts/imagenet_curve.py --run "$RUNS/tiny-extra" --output "$OUT/tiny-extra" \
    --epoch 1 --epoch 3 --epoch 5 --epoch 7 --epoch 9 --epoch 10 "${select[@]}"
