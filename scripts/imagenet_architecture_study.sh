#!/usr/bin/env bash
# The ImageNet masker study: the simplified objective (Phang et al. 2020) with a sigmoid mask head
# and three decoders (U-Net, feature pyramid, none), the same data (1,000 ImageNet sample photos +
# the "train" part of imagenet-val-dev) and the same budget; then one evaluation on the dev split's
# calibration (thresholds) and test (figures) parts with Grad-CAM, the gradient and the box baselines.
#   RUNS=runs EPOCHS=5 bash scripts/imagenet_architecture_study.sh
# Training runs resume from their checkpoints when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}; EPOCHS=${EPOCHS:-5}; D=${DATA:-../shared/data}/imagenet-val-dev
common=(--set objective=simplified --set head=sigmoid --set dev_data=imagenet-val-dev --set steps_per_epoch=50 --set batch_size=32 --set epochs="$EPOCHS")
python scripts/train_imagenet_masker.py --output "$RUNS/arch-unet" "${common[@]}" --set decoder=unet --set 'decoder_filters=[128,64]' --set mask_stride=4
python scripts/train_imagenet_masker.py --output "$RUNS/arch-fpn" "${common[@]}" --set decoder=fpn --set 'decoder_filters=[32]' --set mask_stride=8
python scripts/train_imagenet_masker.py --output "$RUNS/arch-none" "${common[@]}" --set decoder=none --set 'decoder_filters=[64]' --set mask_stride=16
for a in unet fpn none; do
  python -c "from keras_saliency import imagenet_recipe as R; R.model_from_snapshot('$RUNS/arch-$a', $EPOCHS).save('$RUNS/$a.keras')"
done
keras-saliency evaluate "$D/images" --model imagenet-darknet-tiny --boxes "$D/boxes.csv" \
  --subset docs/results/imagenet-val-dev/split.csv --limit 0 --faithfulness-limit 100 \
  --methods masker,gradcam,gradient,centre_box,full_image \
  --extra-masker unet="$RUNS/unet.keras" --extra-masker fpn="$RUNS/fpn.keras" --extra-masker none="$RUNS/none.keras" \
  --output docs/results/imagenet-val-dev/dev-test
python scripts/masker_speed.py --masker shipped=imagenet-darknet-tiny --masker unet="$RUNS/unet.keras" \
  --masker fpn="$RUNS/fpn.keras" --masker none="$RUNS/none.keras" --output docs/results/imagenet-val-dev/speed.json
python scripts/imagenet_curve.py --run "$RUNS/arch-fpn" --output docs/results/imagenet-val-dev/curve-fpn
