"""The README's picture: the shipped CIFAR-10 and Tiny ImageNet-100 maskers on held-out real
images (each recipe's seeded validation split), for the classifier's predicted class.

    python scripts/readme_picture.py [--data ../shared/data] [--rows 5] [--output docs/real-masks.png]
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join("..", "shared", "data"))
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default=os.path.join("docs", "real-masks.png"))
    args = parser.parse_args()
    import keras
    from PIL import Image, ImageDraw

    from keras_saliency import pretrained
    from tools import recipes
    from keras_saliency.models.alternatives import blurred
    from keras_saliency.data.folder import load_folder_arrays, scan_image_folder
    from keras_saliency.reports.pictures import panels

    columns = []
    for name in ("cifar10", "tiny-imagenet-100"):
        recipe = recipes.get_recipe(name)
        scan = scan_image_folder(os.path.join(args.data, recipe.data), check=False, progress=False)
        _, validation = scan.split(recipe.validation_fraction, recipe.split_seed)
        pick = np.random.default_rng(args.seed).choice(len(validation), args.rows, replace=False)
        images, labels = load_folder_arrays([validation[i] for i in pick], recipe.image_size, progress=False)
        images = images.astype("float32")
        model = pretrained.load(name)
        names = pretrained.display_names(name)
        logits = keras.ops.convert_to_numpy(model.classifier_logits(images))
        predicted = logits.argmax(-1)
        masks = model.predict((images, predicted), verbose=0)
        rows = panels(images, masks, keras.ops.convert_to_numpy(blurred(images)))
        scale = 128 // recipe.image_size
        tiles = []
        for row, label, guess in zip(rows, labels, predicted):
            tile = Image.fromarray(row).resize((row.shape[1] * scale, row.shape[0] * scale), Image.NEAREST)
            canvas = Image.new("RGB", (tile.width, tile.height + 14), (255, 255, 255))
            canvas.paste(tile, (0, 14))
            title = f"{name}: {names[guess].split(',')[0]}" + ("" if guess == label else f" (true: {names[label].split(',')[0]})")
            ImageDraw.Draw(canvas).text((2, 1), title, fill=(0, 0, 0))
            tiles.append(canvas)
        columns.append(tiles)
    width = sum(c[0].width for c in columns) + 10
    height = sum(t.height for t in columns[0])
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    x = 0
    for tiles in columns:
        y = 0
        for tile in tiles:
            picture.paste(tile, (x, y))
            y += tile.height
        x += tiles[0].width + 10
    picture.save(args.output)
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
