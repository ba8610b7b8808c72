"""Does the classifier use context, and do the maps show it? For the shipped models with boxes,
the classifier's probability on the object alone (outside the ground-truth boxes blurred) and on
the context alone (the boxes blurred), next to the share of each method's map outside the boxes.

    python scripts/context_examples.py --output docs/results/review/context

Images never trained on: ImageNet, the test part of imagenet-val-dev's fixed split
(docs/results/imagenet-val-dev/split.csv); Tiny ImageNet-100, the recipe's 10% validation split
(seed 0). Writes context.csv (per image), context_summary.csv / .md (per model and method),
context_examples.png (the images whose context alone beats the object alone by the most) and
context_config.json.
"""

import argparse
import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared", "data")


def model_images(name, root, limit):
    from keras_saliency import pretrained
    from keras_saliency.evaluation import load_evaluation_images

    model = pretrained.load(name)
    if name == "imagenet-darknet-tiny":
        data = load_evaluation_images(
            os.path.join(root, "imagenet-val-dev", "images"), model.image_size,
            boxes_csv=os.path.join(root, "imagenet-val-dev", "boxes.csv"), class_names=pretrained.class_names(name),
            subset_csv=os.path.join(REPO, "docs/results/imagenet-val-dev/split.csv"))
        data = data.subset([i for i, part in enumerate(data.parts) if part == "test"])
    else:
        folder = os.path.join(root, "tiny-imagenet-100", "train")
        data = load_evaluation_images(folder, model.image_size, boxes_csv=os.path.join(folder, "boxes.csv"),
                                      class_names=pretrained.class_names(name), split=(0.1, 0, "validation"))
    keep = np.random.default_rng(0).permutation(len(data))[:limit]
    return model, data.subset(np.sort(keep))


def draw_examples(path, picks, titles):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_saliency.reports.pictures import overlay

    columns = ["image, box", "object only", "context only"] + list(picks[0]["maps"])
    fig, axes = plt.subplots(len(picks), len(columns), figsize=(2.2 * len(columns), 2.3 * len(picks)), squeeze=False)
    for r, pick in enumerate(picks):
        panels = [pick["image"], pick["object"], pick["context"]]
        panels += [overlay(pick["image"][None], m[None])[0] for m in pick["maps"].values()]
        labels = [f"{pick['title']}\np full {pick['row']['p_full']:.2f}", f"p {pick['row']['p_object']:.2f}",
                  f"p {pick['row']['p_context']:.2f}"]
        labels += [f"{method}: {pick['outside'][method]:.0%} outside" for method in pick["maps"]]
        for c, (panel, label) in enumerate(zip(panels, labels)):
            ax = axes[r, c]
            ax.imshow(np.clip(panel, 0, 255).astype(np.uint8))
            for x0, y0, x1, y1 in pick["boxes"]:
                ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5))
            ax.set_title(label, fontsize=7)
            ax.axis("off")
    fig.suptitle(titles, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarise_saved(output):
    """The summary files again from the per-image rows of an earlier run (context.csv)."""
    import csv

    from keras_saliency.reports import tables
    from keras_saliency.evaluation.context import SUMMARY_COLUMNS, summarise_context

    with open(os.path.join(output, "context.csv"), newline="") as f:
        saved = list(csv.DictReader(f))
    summary, groups = [], {}
    for row in saved:
        values = {k: float(row[k]) if row[k] not in ("", "nan") else float("nan")
                  for k in ("p_full", "p_object", "p_context", "box_area", "map_outside")}
        groups.setdefault((row["model"], row["method"]), []).append(values)
    for (model, method), rows in groups.items():
        summary.append({"model": model, "method": method, **summarise_context(rows)})
    columns = (("model", "model", "{}"), ("method", "method", "{}")) + SUMMARY_COLUMNS
    tables.write_csv(os.path.join(output, "context_summary.csv"), summary, columns)
    with open(os.path.join(output, "context_summary.md"), "w") as f:
        f.write(tables.markdown_table(summary, columns) + "\n")
    print(tables.markdown_table(summary, columns))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root", default=SHARED)
    parser.add_argument("--models", default="imagenet-darknet-tiny,tiny-imagenet-100")
    parser.add_argument("--methods", default="masker,gradcam,gradient")
    parser.add_argument("--limit", type=int, default=400, help="Images per model (a seeded subset).")
    parser.add_argument("--examples", type=int, default=4, help="Example rows per model in the picture.")
    parser.add_argument("--summarise-only", action="store_true",
                        help="Rewrite the summary from the per-image context.csv already in --output.")
    args = parser.parse_args()
    if args.summarise_only:
        return summarise_saved(args.output)

    from keras_saliency import pretrained
    from keras_saliency.reports import tables
    from keras_saliency.evaluation.context import (
        CONTEXT_COLUMNS, SUMMARY_COLUMNS, context_use, object_and_context, summarise_context,
    )
    from keras_saliency.methods import build_method

    os.makedirs(args.output, exist_ok=True)
    root = os.path.abspath(args.data_root)
    per_image, summary = [], []
    for name in args.models.split(","):
        model, data = model_images(name, root, args.limit)
        display = pretrained.display_names(name) or pretrained.class_names(name)
        by_method = {}
        for method_name in args.methods.split(","):
            maps = build_method(method_name, model)(data.images, data.class_ids)
            rows = context_use(model, data.images, data.class_ids, data.boxes, maps)
            by_method[method_name] = (maps, rows)
            summary.append({"model": name, "method": method_name, **summarise_context(rows)})
            per_image += [{"model": name, "method": method_name, "path": data.paths[r["index"]], **r} for r in rows]
            print(tables.markdown_table(summary[-1:], (("model", "model", "{}"), ("method", "method", "{}")) + SUMMARY_COLUMNS),
                  flush=True)
        rows = by_method[args.methods.split(",")[0]][1]
        # the examples: confidently classified images whose context alone beats the object alone the most
        gain = np.array([r["p_context"] - r["p_object"] if r["p_full"] >= 0.5 else -np.inf for r in rows])
        picks = []
        for i in np.argsort(-gain)[: args.examples]:
            image = data.images[i]
            object_only, context_only = object_and_context(image[None], [data.boxes[i]])
            picks.append({
                "image": image, "boxes": data.boxes[i], "row": rows[i],
                "title": f"{name}: {display[data.class_ids[i]].split(',')[0]}",
                "object": object_only[0], "context": context_only[0],
                "maps": {m: by_method[m][0][i] for m in by_method},
                "outside": {m: by_method[m][1][i]["map_outside"] for m in by_method},
            })
        draw_examples(os.path.join(args.output, f"context_examples_{name}.png"), picks,
                      "Never-trained-on images whose context alone (boxes blurred) keeps more of the class "
                      "probability than the object alone (outside blurred)")
    columns = (("model", "model", "{}"), ("method", "method", "{}")) + SUMMARY_COLUMNS
    tables.write_csv(os.path.join(args.output, "context_summary.csv"), summary, columns)
    with open(os.path.join(args.output, "context_summary.md"), "w") as f:
        f.write(tables.markdown_table(summary, columns) + "\n")
    image_columns = (("model", "model", "{}"), ("method", "method", "{}"), ("path", "path", "{}")) + CONTEXT_COLUMNS
    tables.write_csv(os.path.join(args.output, "context.csv"), per_image, image_columns)
    with open(os.path.join(args.output, "context_config.json"), "w") as f:
        json.dump({**vars(args), "data_root": root, "object_only": "outside the union of the ground-truth boxes "
                   "blurred (kernel 55, sigma 11 at 224 px)", "context_only": "inside the boxes blurred",
                   "map_outside": "share of the map's (clipped at 0) mass outside the boxes",
                   "examples": "p_full >= 0.5, largest p_context - p_object (first method's rows)"}, f, indent=2)
    print(tables.markdown_table(summary, columns))


if __name__ == "__main__":
    main()
