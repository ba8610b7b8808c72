"""The shipped ImageNet masker on the package's sample photos: the classifier's top class for each,
then the same photo explained for a class that is not in it (an empty mask is the right answer).

    python scripts/imagenet_samples_figure.py --output docs/imagenet-samples.png
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SAMPLES = ("cat.jpg", "coffee.jpg", "grace_hopper.jpg", "rocket.jpg")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="imagenet-darknet-tiny")
    parser.add_argument("--absent-class", default="tench", help="a readable class name shown for the first photo")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    import numpy as np

    from keras_saliency import samples
    from keras_saliency.data.folder import read_image
    from keras_saliency.pretrained import load_saliency_model
    from keras_saliency.methods import ClassifierFunction
    from keras_saliency.reports.pictures import save_panels

    model, _, info = load_saliency_model(args.model)
    names = info.get("display_names") or model.class_names
    folder = os.path.dirname(samples.__file__)
    images = np.stack([read_image(os.path.join(folder, name), model.image_size)[1] for name in SAMPLES]).astype("float32")
    import tensorflow as tf

    probabilities = np.asarray(tf.nn.softmax(ClassifierFunction(model)(images)))
    top = probabilities.argmax(1).astype("int32")
    absent = names.index(args.absent_class)
    images = np.concatenate([images, images[:1]])
    class_ids = np.concatenate([top, [absent]]).astype("int32")
    masks = np.asarray(model.predict((images, class_ids), verbose=0))
    titles = [f"{names[c]} (p={probabilities[i % len(SAMPLES), c]:.2f}, mean mask {masks[i].mean():.2f})"
              for i, c in enumerate(class_ids)]
    print("Saved", save_panels(args.output, images, masks, titles=titles, scale=1))


if __name__ == "__main__":
    main()
