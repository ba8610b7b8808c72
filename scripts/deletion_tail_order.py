"""Does the order of a masker's near-zero pixels decide its deletion AUC? Scores the masker's masks
as they are and with their faint part reordered by proximity to the mask: `mask + eps x blur(mask)`
(a Gaussian of `--sigma` pixels, divided by its maximum; with eps = 0.001 only pixels within 0.1% of
a box threshold can cross it: the order of the near-zero pixels moves, the boxes barely do).

    python scripts/deletion_tail_order.py ../shared/data/cifar10/train --model cifar10-ensemble \
        --subset docs/results/cifar10-ensemble/area-selection/selection.csv \
        --output docs/results/cifar10-ensemble/area-selection/tail-order

Uses the subset's "test" images (`keras-saliency evaluate`'s `--subset` and `--limit` rules).
Writes tail_order.csv / .md and tail_order_config.json.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="A class-folder tree.")
    parser.add_argument("--model", default="cifar10-ensemble", help="A shipped model name or a .keras masker.")
    parser.add_argument("--subset", required=True, help="A path,part CSV (its test images are scored).")
    parser.add_argument("--limit", type=int, default=300, help="Seeded subset size, as in evaluate (default 300).")
    parser.add_argument("--sigma", type=float, action="append", help="Blur sigma in pixels (default: 4 and 8).")
    parser.add_argument("--eps", type=float, default=1e-3, help="Weight of the blurred mask (default 0.001).")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    import numpy as np

    from keras_saliency.evaluation import load_evaluation_images, metrics
    from keras_saliency.reports import tables
    from keras_saliency.pretrained import load_saliency_model
    from keras_saliency.methods import ClassifierFunction, build_method
    from keras_saliency.models.alternatives import gaussian_blur

    model, class_names, _ = load_saliency_model(args.model)
    data = load_evaluation_images(args.folder, model.image_size, class_names=class_names, limit=args.limit,
                                  seed=0, subset_csv=args.subset)
    test = np.flatnonzero(np.asarray(data.parts) == "test")
    images, class_ids = data.images[test], data.class_ids[test]
    masks = np.asarray(build_method("masker", model)(images, class_ids))
    masks = masks / np.maximum(masks.max(axis=(1, 2), keepdims=True), 1e-12)
    variants = {"masker": masks}
    for sigma in args.sigma or [4.0, 8.0]:
        size = min(int(6 * sigma) | 1, 2 * masks.shape[1] - 1)
        far = np.asarray(gaussian_blur(masks[..., None], size, sigma))[..., 0]
        far = far / np.maximum(far.max(axis=(1, 2), keepdims=True), 1e-12)
        variants[f"masker + {args.eps:g} x blur (sigma {sigma:g} px)"] = masks + args.eps * far
    classifier = ClassifierFunction(model)
    rows = []
    for name, maps in variants.items():
        deletion, insertion = metrics.deletion_insertion(classifier, images, class_ids, maps)
        rows.append({"map": name, "images": len(test), "deletion_auc": float(deletion.mean()),
                     "insertion_auc": float(insertion.mean())})
        print(rows[-1], flush=True)
    os.makedirs(args.output, exist_ok=True)
    columns = [("map", "map", "{}"), ("images", "images", "{}"), ("deletion_auc", "deletion AUC", "{:.3f}"),
               ("insertion_auc", "insertion AUC", "{:.3f}")]
    tables.write_csv(os.path.join(args.output, "tail_order.csv"), rows, columns)
    with open(os.path.join(args.output, "tail_order.md"), "w") as f:
        f.write(tables.markdown_table(rows, columns) + "\n")
    with open(os.path.join(args.output, "tail_order_config.json"), "w") as f:
        json.dump(vars(args), f, indent=2)


if __name__ == "__main__":
    main()
