"""Localisation error of a masker exported to int8 LiteRT against the float Keras masker, on the
ImageNet dev split (threshold on the calibration part, figure on the test part).

    python scripts/int8_localisation.py --model imagenet-darknet-tiny --output docs/results/imagenet-darknet-tiny/int8
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a shipped name or a .keras file")
    parser.add_argument("--output", required=True)
    parser.add_argument("--calibration-data", default=None, help="int8 calibration photos (default: imagenet-sample-1000)")
    parser.add_argument("--calibration-images", type=int, default=200)
    parser.add_argument("--split", default="docs/results/imagenet-val-dev/split.csv")
    parser.add_argument("--int8-float", default="parity", choices=["parity", "speed"],
                        help="which layers stay float (keras_saliency.deployment.converters.int8_float_layers)")
    parser.add_argument("--also-float", action="append", default=[], metavar="LAYER",
                        help="a further layer (of the masker or its encoder) kept in float; repeatable")
    parser.add_argument("--int8-float-through", default=None, metavar="LAYER",
                        help="an encoder layer: it and the encoder's layers before it stay float")
    parser.add_argument("--int8-ranges", default="mean", choices=["mean", "minmax"],
                        help="activation ranges (keras_saliency.deployment.int8_ranges)")
    parser.add_argument("--seed", type=int, default=0, help="which calibration photos are drawn")
    parser.add_argument("--tflite", default=None, help="measure this .tflite instead of converting one")
    args = parser.parse_args()

    import keras
    import numpy as np

    from keras_saliency import pretrained
    from keras_saliency.data.folder import load_folder_arrays, scan_image_folder
    from keras_saliency.deployment import converters, verification
    from keras_saliency.deployment.runtimes import load_runtime
    from keras_saliency.evaluation import load_evaluation_images
    from keras_saliency.evaluation.runner import LOCALISATION_THRESHOLDS
    from keras_saliency.evaluation.localization import choose_threshold, localization_hits
    from keras_saliency.models.masker import upsample_masks
    from tools.recipes import default_data_root

    model = pretrained.load(args.model) if args.model in pretrained.available() else keras.saving.load_model(args.model)
    root = default_data_root()
    folder = args.calibration_data or os.path.join(root, "imagenet-sample-1000")
    scan = scan_image_folder(folder, check=False, progress=False)
    pairs = list(zip(scan.files, scan.labels))
    pick = np.random.default_rng(args.seed).choice(len(pairs), args.calibration_images, replace=False)
    cal_images, cal_ids = load_folder_arrays([pairs[i] for i in sorted(pick)], model.image_size, progress=False)
    os.makedirs(args.output, exist_ok=True)
    path = args.tflite or os.path.join(args.output, "masker.int8.tflite")
    if not args.tflite:
        float_layers = converters.int8_float_layers(model.masker, preset=args.int8_float,
                                                    through=args.int8_float_through) + args.also_float
        converters.export_tflite(model.masker, path, "int8", cal_images.astype(np.float32), cal_ids,
                                 float_layers=float_layers, int8_ranges=args.int8_ranges)
    runtime = load_runtime(path)
    dev = os.path.join(root, "imagenet-val-dev")
    data = load_evaluation_images(os.path.join(dev, "images"), model.image_size,
                                  boxes_csv=os.path.join(dev, "boxes.csv"), subset_csv=args.split)
    parts = np.asarray(data.parts)
    cal, test = np.flatnonzero(parts == "calibration"), np.flatnonzero(parts == "test")
    results = {}
    float_raw = {"mask": [], "exists": []}
    for start in range(0, len(data), 32):
        out = model.masker({"image": data.images[start:start + 32], "class_id": data.class_ids[start:start + 32]})
        float_raw["mask"].append(np.asarray(out["mask"]))
        float_raw["exists"].append(np.asarray(out["exists"]))
    float_raw = {k: np.concatenate(v) for k, v in float_raw.items()}
    int8_raw = runtime(data.images, data.class_ids)
    for name, raw in (("float", float_raw["mask"]), ("int8", int8_raw["mask"])):
        maps = np.asarray(upsample_masks(raw, model.image_size))[..., 0]
        threshold, _ = choose_threshold(maps[cal], [data.boxes[i] for i in cal], rule="max",
                                        candidates=np.asarray(LOCALISATION_THRESHOLDS))
        hits = localization_hits(maps[test], [data.boxes[i] for i in test], threshold, rule="max")
        # the error at every threshold of the grid, on each part (what the choice was made from)
        curves = {part: [round(1.0 - float(localization_hits(maps[rows], [data.boxes[i] for i in rows], t,
                                                              rule="max").mean()), 4)
                         for t in LOCALISATION_THRESHOLDS]
                  for part, rows in (("calibration", cal), ("test", test))}
        results[name] = {"localisation_error": 1.0 - float(hits.mean()), "threshold": threshold,
                         "calibration_error": min(curves["calibration"]),
                         "error_by_threshold": {"thresholds": [float(t) for t in LOCALISATION_THRESHOLDS],
                                                **curves}}
    results["parity"] = verification.parity(float_raw, int8_raw)
    results["files"] = {"tflite_bytes": os.path.getsize(path)}
    results["config"] = {**vars(args), "test_images": int(len(test)), "calibration_images_threshold": int(len(cal))}
    with open(os.path.join(args.output, "int8_localisation.json"), "w") as f:
        json.dump(results, f, indent=2, default=float)
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
