"""Classify and explain in one exported graph, measured: for a shipped ImageNet masker, the float32
ONNX and LiteRT classify exports (verified by `export_masker`), their top-1 agreement with the Keras
classifier on real photos (one pass, class id -1), their speed at batch 32 against the bare trunk
exported the same way (`part="encoder"`) and the classifier alone (ONNX), alternating rounds, median;
and the float16 / int8 LiteRT classify exports' verification.

    python scripts/classify_export.py imagenet-darknet-tiny --data ../shared/data \
        --output docs/results/performance/classify-export
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np


def rate(function, images=32, calls=3):
    function()
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return images * calls / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["imagenet-darknet-tiny", "imagenet-efficientnet-lite0"])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--output", default="docs/results/performance/classify-export")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    from keras_saliency import pretrained
    from keras_saliency.deployment import converters
    from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes, sample_images
    from keras_saliency.deployment.runtimes import load_runtime

    work = tempfile.mkdtemp(prefix="classify-export-")  # the exported files (not kept)
    os.makedirs(args.output, exist_ok=True)
    model = pretrained.load(args.model)
    photos = sample_images(os.path.join(args.data, "imagenet-val-dev", "images"), 224, 300, seed=3).astype("float32")
    calibration = sample_images(os.path.join(args.data, "imagenet-sample-1000"), 224, 200, seed=2).astype("float32")
    keras_top1 = predicted_classes(model, photos)
    result = {"model": args.model, "photos": len(photos), "files": {}}
    for fmt, quantize in [("onnx", "float32"), ("tflite", "float32"), ("tflite", "float16"), ("tflite", "int8")]:
        path = os.path.join(work, f"classify-{quantize}.{fmt}")
        request = ExportRequest(format=fmt, quantize=quantize, classify=True)
        report = export_masker(model, path, request, calibration, predicted_classes(model, calibration),
                               photos[:100], keras_top1[:100])
        out = load_runtime(path)(photos, np.full(len(photos), -1, np.int32))
        figures = {k: v for k, v in report["files"][0].items() if k not in ("path", "goals", "seconds")}
        result["files"][f"{fmt}-{quantize}"] = {"top1_agreement_300_photos": float(np.mean(out["explained_class"] == keras_top1)),
                                                "verification_100_photos": figures}
    converters.export_tflite(model.masker, os.path.join(work, "encoder.tflite"), part="encoder")
    converters.export_onnx(model.masker, os.path.join(work, "encoder.onnx"), part="encoder")
    spec = (tf.TensorSpec([None, 224, 224, 3], tf.float32, name="image"),)
    classifier_only = tf.function(lambda image: {"logits": model.classifier_logits(image)}, input_signature=spec)
    tf2onnx.convert.from_function(classifier_only, input_signature=spec, opset=17,
                                  output_path=os.path.join(work, "classifier.onnx"))

    batch, predicted, zeros = photos[:32], np.full(32, -1, np.int32), np.zeros(32, np.int32)

    def lite(name, ids):
        runner = Interpreter(model_path=os.path.join(work, name), num_threads=os.cpu_count()).get_signature_runner()
        return lambda: runner(image=batch, class_id=ids)

    def onnx(name, ids):
        session = ort.InferenceSession(os.path.join(work, name), providers=["CPUExecutionProvider"])
        feeds = {"image": batch} if ids is None else {"image": batch, "class_id": ids}
        return lambda: session.run(None, feeds)

    calls = {"tflite_trunk": lite("encoder.tflite", zeros), "tflite_classify": lite("classify-float32.tflite", predicted),
             "onnx_trunk": onnx("encoder.onnx", zeros), "onnx_classify": onnx("classify-float32.onnx", predicted),
             "onnx_classifier": onnx("classifier.onnx", None)}
    rounds = {key: [] for key in calls}
    for _ in range(args.rounds):
        for key, call in calls.items():
            rounds[key].append(rate(call))
    speed = {key: round(float(np.median(values)), 1) for key, values in rounds.items()}
    speed["tflite_classify_over_trunk"] = round(speed["tflite_classify"] / speed["tflite_trunk"], 3)
    speed["onnx_classify_over_trunk"] = round(speed["onnx_classify"] / speed["onnx_trunk"], 3)
    speed["onnx_classify_over_classifier"] = round(speed["onnx_classify"] / speed["onnx_classifier"], 3)
    result["images_per_s_batch32"] = speed
    result["config"] = vars(args)
    with open(os.path.join(args.output, f"{args.model}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
