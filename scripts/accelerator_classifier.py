"""A recipe's classifier stage on an accelerator machine that has PyTorch but no TensorFlow.

    # here (TensorFlow): the recipe's untrained model and its training split, packed
    python scripts/accelerator_classifier.py pack cifar10-transfer runs/cifar10-gpu --set backbone_trainable_from=null
    # there (Keras 3 with KERAS_BACKEND=torch, numpy, Pillow): trains it
    KERAS_BACKEND=torch python scripts/accelerator_classifier.py train runs/cifar10-gpu --epochs 20

`pack` writes the recipe's classifier before training (`init.keras` for a transfer recipe, whose
pretrained weights matter; `init.json`, the architecture alone, for one trained from scratch),
`part0.npz` / `part1.npz` (the JPEG/PNG bytes and labels of the recipe's training split, in two
halves that each fit a small file transfer) and `validation.npz` (its validation split). `train`
runs the recipe's schedule with Keras' torch or TensorFlow backend (not JAX: its trainer applies a
learning rate set between batches only once per epoch): Adam or SGD as `compile_classifier` builds it (a
linear warm-up over `classifier_warmup_epochs`, then cosine decay), cross-entropy with the recipe's
label smoothing, random flips, reflect-padded shifts of up to `shift` pixels and the recipe's
`zoom` crops (prepared ahead by 4 threads, each batch from its own seeded generator), the
recipe's batch size. With `--seconds`, the epochs after the warm-up are as many
as fit in that time (at most the recipe's), planned from the warm-up's pace before the cosine
starts. It writes `classifier.keras` (after every epoch; at the end uncompiled, so that it loads
in any backend), `classifier_log.csv` (with validation accuracy per epoch) and
`accelerator_run.json`. Measure the returned `classifier.keras` here with TensorFlow as well;
copied into a run folder as `classifier.keras`, `train_pretrained.py --stage masker` trains the
masker against it.
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
    """Writes the recipe's untrained classifier, its training split (two halves) and its
    validation split into `output`.

    Args:
        recipe_name: a recipe of `tools.recipes`.
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
    train, validation = scan.split(recipe.validation_fraction, recipe.split_seed)
    os.makedirs(output, exist_ok=True)
    keras.utils.set_random_seed(recipe.seed)
    model = recipes.build_recipe_classifier(recipe, scan.class_names)
    if recipe.architecture == "transfer":
        model.save(os.path.join(output, "init.keras"))
    else:
        with open(os.path.join(output, "init.json"), "w") as f:
            f.write(model.to_json())
    half = len(train) // 2
    for file, pairs in (("part0", train[:half]), ("part1", train[half:]), ("validation", validation)):
        blobs = [open(path, "rb").read() for path, _ in pairs]
        np.savez(os.path.join(output, f"{file}.npz"), data=np.frombuffer(b"".join(blobs), np.uint8),
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


def _zoom(x, rng, min_area):
    """Half of the images replaced by a random square crop of at least `min_area` of the image,
    resized back (bilinear): the numpy counterpart of `keras_saliency.data.pipeline.random_zoom`
    (area drawn uniformly here, by TensorFlow's box sampler there)."""
    from PIL import Image

    size = x.shape[1]
    out = x.copy()
    for j in np.flatnonzero(rng.random(len(x)) < 0.5):
        side = int(round(size * np.sqrt(rng.uniform(min_area, 1.0))))
        y0, x0 = rng.integers(0, size - side + 1, 2)
        crop = Image.fromarray(x[j, y0:y0 + side, x0:x0 + side])
        out[j] = np.asarray(crop.resize((size, size), Image.BILINEAR))
    return out


def _augment(x, rng, zoom, shift):
    """Random flips, `_zoom` crops (when `zoom`) and reflect-padded shifts of up to `shift` pixels
    of a batch `x` (N, S, S, C), drawn from `rng`."""
    x = np.where((rng.random(len(x)) < 0.5)[:, None, None, None], x[:, :, ::-1], x)
    if zoom:
        x = _zoom(x, rng, zoom)
    if shift:
        size = x.shape[1]
        padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="reflect")
        dy, dx = rng.integers(0, 2 * shift + 1, (2, len(x)))
        x = np.stack([padded[j, dy[j]:dy[j] + size, dx[j]:dx[j] + size] for j in range(len(x))])
    return x


class _CosineWithWarmup:
    """Linear warm-up to `rate` over `warmup` steps, then cosine decay to 0 at `total` steps (as
    `keras.optimizers.schedules.CosineDecay(0, total - warmup, warmup_target=rate, warmup_steps=warmup)`)."""

    def __init__(self, rate, warmup, total):
        self.rate, self.warmup, self.total = rate, warmup, total

    def __call__(self, step):
        if step < self.warmup:
            return self.rate * step / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * self.rate * (1.0 + np.cos(np.pi * progress))


def train(folder, epochs=None, parts=None, seconds=None, output=None):
    """Trains the packed model with Keras' torch or TensorFlow backend and the recipe's schedule.

    Args:
        folder: a folder written by `pack`.
        epochs: epochs (default: the recipe's).
        parts: the two packed halves, when they are not in `folder`.
        seconds: a time budget; the epochs after the warm-up are as many as fit (at most `epochs`).
        output: where to write the trained model and logs (default `folder`).

    Example:

    ```python
    train("runs/cifar10-gpu", epochs=20)
    ```
    """
    import keras

    start = time.time()
    if keras.backend.backend() == "jax":
        raise SystemExit("Expected KERAS_BACKEND=torch or tensorflow (the JAX trainer applies the per-batch "
                         "learning rate once per epoch). Received: jax")
    output = output or folder
    os.makedirs(output, exist_ok=True)
    if os.path.exists(os.path.join(output, "classifier_log.csv")):
        os.remove(os.path.join(output, "classifier_log.csv"))  # a new run: its log starts afresh
    with open(os.path.join(folder, SETTINGS)) as f:
        recipe = json.load(f)
    warmup = recipe["classifier_warmup_epochs"]
    if seconds and not warmup:
        raise SystemExit("Expected a recipe with warm-up epochs for --seconds (their pace plans the rest). "
                         "Received: classifier_warmup_epochs=0")
    size, shift, batch, classes = recipe["image_size"], recipe["shift"], recipe["classifier_batch_size"], len(recipe["class_names"])
    zoom = recipe.get("zoom", 0.0)
    epochs = epochs or recipe["classifier_epochs"]
    if seconds and epochs <= warmup:
        raise SystemExit(f"Expected more epochs than the {warmup} warm-up epochs for --seconds. Received: {epochs}")
    decoded = [_decode(p, size) for p in (parts or [os.path.join(folder, f"part{k}.npz") for k in (0, 1)])]
    images, labels = np.concatenate([d[0] for d in decoded]), np.concatenate([d[1] for d in decoded]).astype("int32")
    validation = None
    if os.path.exists(os.path.join(folder, "validation.npz")):
        val_x, val_y = _decode(os.path.join(folder, "validation.npz"), size)
        validation = (val_x.astype("float32"), np.eye(classes, dtype="float32")[val_y])

    class Batches(keras.utils.PyDataset):
        """Shuffled, augmented batches; batch `i` of epoch `e` draws from its own generator
        (seed, e, i), so that worker threads prepare batches ahead in any order, reproducibly."""

        def __init__(self):
            super().__init__(workers=4, use_multiprocessing=False)
            self.epoch = 0
            self.order = np.random.default_rng([recipe["seed"], 0]).permutation(len(images))

        def __len__(self):
            return -(-len(images) // batch)

        def __getitem__(self, i):
            index = self.order[i * batch:(i + 1) * batch]
            rng = np.random.default_rng([recipe["seed"], self.epoch, i, 1])
            x = _augment(images[index], rng, zoom, shift)
            return x.astype("float32"), np.eye(classes, dtype="float32")[labels[index]]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([recipe["seed"], self.epoch]).permutation(len(images))

    keras.utils.set_random_seed(recipe["seed"])
    if os.path.exists(os.path.join(folder, "init.keras")):
        model = keras.saving.load_model(os.path.join(folder, "init.keras"))
    else:
        with open(os.path.join(folder, "init.json")) as f:
            model = keras.models.model_from_json(f.read())
    data = Batches()
    rate = recipe["classifier_learning_rate"]
    schedule = _CosineWithWarmup(rate, len(data) * warmup, len(data) * epochs)

    class LearningRate(keras.callbacks.Callback):
        step = 0

        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = float(schedule(self.step))
            self.step += 1

    decay = recipe["classifier_weight_decay"] or None
    if recipe["classifier_optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(rate, weight_decay=decay)
    else:
        optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=decay)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["label_smoothing"]),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    callbacks = [LearningRate(), keras.callbacks.CSVLogger(os.path.join(output, "classifier_log.csv"), append=True),
                 keras.callbacks.ModelCheckpoint(os.path.join(output, "classifier.keras"))]
    fit = dict(validation_data=validation, validation_batch_size=500, verbose=2, callbacks=callbacks)
    done = 0
    if seconds:
        began = time.time()
        model.fit(data, epochs=warmup, **fit)
        done = warmup
        pace = (time.time() - began) / warmup
        epochs = min(epochs, warmup + max(1, int((seconds - (time.time() - start)) / pace)))
        schedule.total = len(data) * epochs
        print(f"Warm-up: {pace:.1f} s per epoch; {epochs} epochs in all")
    model.fit(data, initial_epoch=done, epochs=epochs, **fit)
    # Saved uncompiled: a backend's optimizer (e.g. torch's SGD) does not load in another backend.
    trained = keras.Model(model.inputs, model.outputs, name=model.name)
    trained.save(os.path.join(output, "classifier.keras"))
    with open(os.path.join(output, "accelerator_run.json"), "w") as f:
        json.dump({"backend": keras.backend.backend(), "keras": keras.__version__, "epochs": epochs,
                   "images": int(len(images)), "seconds": round(time.time() - start, 1)}, f, indent=2)
    print(f"Trained {epochs} epochs in {time.time() - start:.0f} s: {output}/classifier.keras")


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
    trainer.add_argument("--seconds", type=float, help="Time budget: as many epochs as fit after the warm-up.")
    trainer.add_argument("--output", help="Where to write the model and logs (default: the folder).")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.recipe, args.output, args.overrides, args.data_root)
    else:
        train(args.folder, args.epochs, args.parts, args.seconds, args.output)


if __name__ == "__main__":
    main()
