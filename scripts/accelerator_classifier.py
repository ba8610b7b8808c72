"""A recipe's classifier stage on an accelerator machine that has PyTorch or JAX but no TensorFlow.

    # here (TensorFlow): the recipe's untrained model and its training split, packed
    python scripts/accelerator_classifier.py pack cifar10-transfer runs/cifar10-gpu --set backbone_trainable_from=null
    # there (Keras 3 with KERAS_BACKEND=torch or jax, numpy, Pillow): trains it
    KERAS_BACKEND=torch python scripts/accelerator_classifier.py train runs/cifar10-gpu --epochs 20

`pack` writes `init.keras` (the recipe's classifier before training) and `part0.npz` /
`part1.npz` (the JPEG/PNG bytes and labels of the recipe's training split, in two halves that each
fit a small file transfer). `train` runs the recipe's schedule in any Keras backend: Adam or SGD as
`compile_classifier` builds it (cosine decay, no warm-up), cross-entropy with the recipe's label
smoothing, random flips and reflect-padded shifts of up to `shift` pixels, the recipe's batch
size. It writes `classifier.keras`, `classifier_log.csv` and `accelerator_run.json`. The validation
split stays here: measure it with TensorFlow after copying `classifier.keras` back.
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import io
import json
import os
import time

import numpy as np

SETTINGS = "accelerator_recipe.json"


def pack(recipe_name, output, overrides, data_root=None):
    """Writes the recipe's untrained classifier and its training split (two halves) into `output`.

    Args:
        recipe_name: a recipe of `tools.recipes` with architecture "transfer".
        output: the folder to write.
        overrides: `FIELD=JSON` recipe overrides.
        data_root: the data folder (default ../shared/data).

    Example:

    ```python
    pack("cifar10-transfer", "runs/cifar10-gpu", ["classifier_epochs=20"])
    ```
    """
    import dataclasses

    import keras

    from keras_saliency.data.folder import scan_image_folder
    from keras_saliency.options import parse_assignments
    from tools import recipes

    recipe = dataclasses.replace(recipes.get_recipe(recipe_name), **parse_assignments(overrides, "set"))
    scan = scan_image_folder(os.path.join(data_root or recipes.default_data_root(), recipe.data), check=False)
    train, _ = scan.split(recipe.validation_fraction, recipe.split_seed)
    os.makedirs(output, exist_ok=True)
    keras.utils.set_random_seed(recipe.seed)
    name = f"{recipe.name.replace('-', '_')}_classifier"
    if recipe.architecture != "transfer":
        raise SystemExit(f"Expected a transfer recipe (its model is plain Keras layers). Received: {recipe.architecture!r}")
    recipes._transfer_classifier(recipe, scan.class_names, name).save(os.path.join(output, "init.keras"))
    half = len(train) // 2
    for k, pairs in enumerate((train[:half], train[half:])):
        blobs = [open(path, "rb").read() for path, _ in pairs]
        np.savez(os.path.join(output, f"part{k}.npz"), data=np.frombuffer(b"".join(blobs), np.uint8),
                 sizes=np.array([len(b) for b in blobs], np.int64), labels=np.array([y for _, y in pairs], np.int32))
    with open(os.path.join(output, SETTINGS), "w") as f:
        json.dump({**recipe.to_dict(), "class_names": scan.class_names}, f, indent=2)
    print(f"Packed {len(train)} training images and the untrained model in {output}")


def _decode(path, image_size):
    from PIL import Image

    z = np.load(path)
    data, sizes = z["data"].tobytes(), z["sizes"]
    ends = np.cumsum(sizes)
    images = [Image.open(io.BytesIO(data[end - size:end])).convert("RGB") for size, end in zip(sizes, ends)]
    return np.stack([np.asarray(im if im.size == (image_size, image_size)
                                else im.resize((image_size, image_size), Image.BILINEAR)) for im in images]), z["labels"]


def train(folder, epochs=None, parts=None):
    """Trains the packed model in any Keras backend with the recipe's schedule.

    Args:
        folder: a folder written by `pack`.
        epochs: epochs (default: the recipe's).
        parts: the two packed halves, when they are not in `folder`.

    Example:

    ```python
    train("runs/cifar10-gpu", epochs=20)
    ```
    """
    import keras

    start = time.time()
    with open(os.path.join(folder, SETTINGS)) as f:
        recipe = json.load(f)
    if recipe["classifier_warmup_epochs"]:
        raise SystemExit("Expected a recipe without warm-up epochs (this script's schedule has none). "
                         f"Received: classifier_warmup_epochs={recipe['classifier_warmup_epochs']}")
    size, shift, batch, classes = recipe["image_size"], recipe["shift"], recipe["classifier_batch_size"], len(recipe["class_names"])
    epochs = epochs or recipe["classifier_epochs"]
    decoded = [_decode(p, size) for p in (parts or [os.path.join(folder, f"part{k}.npz") for k in (0, 1)])]
    images, labels = np.concatenate([d[0] for d in decoded]), np.concatenate([d[1] for d in decoded]).astype("int32")

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(recipe["seed"])
            self.order = self.rng.permutation(len(images))

        def __len__(self):
            return -(-len(images) // batch)

        def __getitem__(self, i):
            index = self.order[i * batch:(i + 1) * batch]
            x = images[index]
            x = np.where((self.rng.random(len(index)) < 0.5)[:, None, None, None], x[:, :, ::-1], x)
            if shift:
                padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="reflect")
                dy, dx = self.rng.integers(0, 2 * shift + 1, (2, len(index)))
                x = np.stack([padded[j, dy[j]:dy[j] + size, dx[j]:dx[j] + size] for j in range(len(index))])
            return x.astype("float32"), np.eye(classes, dtype="float32")[labels[index]]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(images))

    keras.utils.set_random_seed(recipe["seed"])
    model = keras.saving.load_model(os.path.join(folder, "init.keras"))
    data = Batches()
    schedule = keras.optimizers.schedules.CosineDecay(recipe["classifier_learning_rate"], len(data) * epochs)
    if recipe["classifier_optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(schedule, weight_decay=recipe["classifier_weight_decay"] or None)
    else:
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                         weight_decay=recipe["classifier_weight_decay"] or None)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["label_smoothing"]),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    model.fit(data, epochs=epochs, verbose=2,
              callbacks=[keras.callbacks.CSVLogger(os.path.join(folder, "classifier_log.csv"))])
    model.save(os.path.join(folder, "classifier.keras"))
    with open(os.path.join(folder, "accelerator_run.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "keras": keras.__version__, "epochs": epochs,
                   "images": int(len(images)), "seconds": round(time.time() - start, 1)}, f, indent=2)
    print(f"Trained {epochs} epochs in {time.time() - start:.0f} s: {folder}/classifier.keras")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packer = commands.add_parser("pack")
    packer.add_argument("recipe")
    packer.add_argument("output")
    packer.add_argument("--set", dest="overrides", action="append", default=[])
    packer.add_argument("--data-root")
    trainer = commands.add_parser("train")
    trainer.add_argument("folder")
    trainer.add_argument("--epochs", type=int)
    trainer.add_argument("--parts", nargs=2, help="The two packed halves, when they are elsewhere.")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.recipe, args.output, args.overrides, args.data_root)
    else:
        train(args.folder, args.epochs, args.parts)


if __name__ == "__main__":
    main()
