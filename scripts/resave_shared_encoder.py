"""Re-saves shipped (or any) SaliencyModel files so that the classifier's weights are stored once
(`tools.share_encoder`); the masks are compared before and after on the sample photos.

    python scripts/resave_shared_encoder.py keras_saliency/pretrained/imagenet-darknet-tiny.keras
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse  # noqa: E402
import os  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    import keras
    import numpy as np

    import keras_saliency  # noqa: F401 (registration)
    from keras_saliency import samples
    from keras_saliency.runtime.images import read_image
    from keras_saliency.training.run_files import atomic_save_model
    from tools.share_encoder import share_encoder

    for path in args.paths:
        model = keras.saving.load_model(path)
        size = model.image_size
        images = np.stack([read_image(p, size)[1] for p in samples.paths()]).astype("float32")
        shared, difference = share_encoder(model, images)
        if difference > args.tolerance:
            raise SystemExit(f"{path}: masks differ by {difference:.2e} after sharing: not saved")
        before = os.path.getsize(path)
        atomic_save_model(shared, path, what="model")
        print(f"{path}: {before / 1e6:.1f} MB -> {os.path.getsize(path) / 1e6:.1f} MB, masks within {difference:.1e}")


if __name__ == "__main__":
    main()
