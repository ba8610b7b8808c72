"""Cost of one masker training step relative to one training step of its classifier (ResNet50 at
224x224, random weights), timed in alternation on this machine. Used to estimate the ImageNet
recipe's time on a GPU: divide the GPU's ResNet50 training throughput by the ratio.

    python scripts/training_cost.py [--batch 8] [--steps 10] [--rounds 3]
"""

import argparse
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_saliency.encoders import application_classifier
    from keras_saliency.train import build_saliency_model, compile_saliency_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (args.batch, 224, 224, 3)).astype("float32")
    labels = rng.integers(0, 1000, args.batch).astype("int32")
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    resnet, preprocessing = application_classifier("resnet50", 224, weights=None)
    trained = keras.models.clone_model(resnet)
    trained.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model = build_saliency_model(resnet, encoder="resnet50", classifier_preprocessing=preprocessing, encoder_weights=None)
    compile_saliency_model(model, 1e-3)

    def seconds_per_step(m):
        m.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # warm-up (tracing)
        start = time.perf_counter()
        m.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / args.steps

    ratios = []
    for r in range(args.rounds):
        classifier_step, masker_step = seconds_per_step(trained), seconds_per_step(model)
        ratios.append(masker_step / classifier_step)
        print(f"round {r}: ResNet50 training step {classifier_step:.2f} s, masker training step "
              f"{masker_step:.2f} s, ratio {ratios[-1]:.2f} (batch {args.batch}, 224x224)")
    print(f"median ratio {statistics.median(ratios):.2f} over {args.rounds} rounds")


if __name__ == "__main__":
    main()
