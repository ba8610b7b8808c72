"""A class folder (one folder per ImageNet wnid) of the ImageNet photos the shipped ImageNet maskers
train on, as symbolic links: the 1,000 sample photos (one per class) and the "train" part of
imagenet-val-dev's fixed split (docs/results/imagenet-val-dev/split.csv), 1,612 photos in all.
`keras-saliency train --dataset folder --data-dir OUTPUT` reads it.

    python scripts/imagenet_train_folder.py runs/imagenet-train [--data-root ../shared/data]
"""

import argparse
import csv
import os

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--data-root", default=os.path.join(HERE, "..", "shared", "data"))
    parser.add_argument("--split", default=os.path.join(HERE, "docs", "results", "imagenet-val-dev", "split.csv"))
    args = parser.parse_args()
    root = os.path.abspath(args.data_root)
    sample = os.path.join(root, "imagenet-sample-1000")
    wnids = sorted(d for d in os.listdir(sample) if os.path.isdir(os.path.join(sample, d)))
    count = 0

    def link(source, wnid):
        nonlocal count
        folder = os.path.join(args.output, wnid)
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, os.path.basename(source))
        if not os.path.lexists(target):
            os.symlink(source, target)
        count += 1

    for wnid in wnids:
        for name in sorted(os.listdir(os.path.join(sample, wnid))):
            link(os.path.join(sample, wnid, name), wnid)
    dev = os.path.join(root, "imagenet-val-dev")
    with open(os.path.join(dev, "labels.csv"), newline="") as f:
        labels = {row["path"]: int(row["label"]) for row in csv.DictReader(f)}
    with open(args.split, newline="") as f:
        train = [row["path"] for row in csv.DictReader(f) if row["part"] == "train"]
    for path in train:
        link(os.path.join(dev, "images", path), wnids[labels[path]])
    print(f"{count} photos in {len(wnids)} class folders under {args.output}")


if __name__ == "__main__":
    main()
