#!/usr/bin/env bash
# Reproduces the figures of docs/PERFORMANCE.md (run on an otherwise idle machine, one job at a
# time). DATA: the shared real images (default ../shared/data); OUT: where results go.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-performance}
mkdir -p "$OUT"

# 1. Real-time preset at 224x224: MobileNetV2 classifier, its own layers as the encoder,
#    decoder 32,16,8 and 28x28 masks (stride 8); untrained (speed does not depend on weights),
#    int8 calibrated and timed on real ImageNet photos.
keras-saliency benchmark --encoder mobilenet_v2 --image-size 224 --decoder-filters 32,16,8 --mask-stride 8 \
    --batch-sizes 1,8,32 --backends keras,keras_xla,saved_model,tflite_float32,tflite_float16,tflite_int8,onnx \
    --calibration-data "$DATA/imagenet-sample-1000" --output "$OUT/mobilenet_v2-realtime"
# 2. The same with the paper-size decoder (256,128,64; 56x56 masks, stride 4).
keras-saliency benchmark --encoder mobilenet_v2 --image-size 224 --decoder-filters 256,128,64 --mask-stride 4 \
    --batch-sizes 1,32 --backends keras,tflite_float32,tflite_int8,onnx \
    --calibration-data "$DATA/imagenet-sample-1000" --output "$OUT/mobilenet_v2-paper-decoder"
# 3. The shipped CIFAR-10 masker at 32x32 (trained; the encoder is the classifier's trunk).
keras-saliency benchmark --model cifar10 --batch-sizes 1,32,256 \
    --backends keras,keras_xla,saved_model,tflite_float32,tflite_float16,tflite_dynamic,tflite_int8,onnx \
    --calibration-data "$DATA/cifar10/train" --output "$OUT/cifar10"
# 4. Parity of every export of the shipped CIFAR-10 masker on real images (200 calibration,
#    100 held-out verification images).
for q in float32 float16 dynamic int8; do
    keras-saliency export cifar10 --format tflite --quantize "$q" --calibration-data "$DATA/cifar10/train" \
        --output "$OUT/exports/cifar10-$q.tflite"
done
keras-saliency export cifar10 --format saved_model --calibration-data "$DATA/cifar10/train" --output "$OUT/exports/cifar10-saved_model"
keras-saliency export cifar10 --format onnx --quantize int8 --calibration-data "$DATA/cifar10/train" --output "$OUT/exports/cifar10.onnx"
keras-saliency export cifar10 --format onnx --quantize float16 --trt --calibration-data "$DATA/cifar10/train" \
    --output "$OUT/exports/cifar10-trt.onnx" || echo "export --trt exited with $? (expected 2 without TensorRT)"
keras-saliency export tiny-imagenet-100 --format tflite --quantize int8 --calibration-data "$DATA/tiny-imagenet-100/train" \
    --output "$OUT/exports/tiny-imagenet-100-int8.tflite"
# 5. Real-time video: a clip of real CIFAR-10 images, Keras and the int8 TFLite model.
python scripts/make_clip.py "$DATA/cifar10/train" "$OUT/clip.mp4"
keras-saliency video "$OUT/clip.mp4" --model cifar10 --output "$OUT/video-keras.mp4"
keras-saliency video "$OUT/clip.mp4" --model cifar10 --runtime "$OUT/exports/cifar10-int8.tflite" --class cat --output "$OUT/video-int8.mp4"
python export/litert_runner.py "$OUT/exports/cifar10-int8.tflite" "$OUT/clip.mp4" --class 3 --output "$OUT/video-runner.mp4"
