"""Cost of one masker training step relative to one training step of its classifier (ResNet50 at
224x224, random weights), timed in alternation on this machine. Used to estimate the ImageNet
recipe's time on a GPU: divide the GPU's ResNet50 training throughput by the ratio.

    python scripts/training_cost.py [--batch 8] [--steps 10] [--rounds 3]
"""

import argparse
import statistics
import time


def forward_flops(function, *specs):
    """Floating-point operations of one call of `function` on inputs `specs` (batch 1), counted
    by TensorFlow's profiler on the traced graph (a multiply-accumulate is 2 operations)."""
    import tensorflow as tf

    graph = tf.function(function).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="0: only count the operations")
    args = parser.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_saliency.models.encoders import application_classifier
    from keras_saliency.models.model import SaliencyModel
    from keras_saliency.training.fit import compile_saliency_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (args.batch, 224, 224, 3)).astype("float32")
    labels = rng.integers(0, 1000, args.batch).astype("int32")
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    resnet, preprocessing = application_classifier("resnet50", 224, weights=None)
    trained = keras.models.clone_model(resnet)
    trained.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model = SaliencyModel.from_classifier(resnet, encoder="resnet50", classifier_preprocessing=preprocessing, encoder_weights=None)
    compile_saliency_model(model, 1e-3)

    def seconds_per_step(m):
        m.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # warm-up (tracing)
        start = time.perf_counter()
        m.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / args.steps

    image = tf.TensorSpec((1, 224, 224, 3), tf.float32)
    class_id = tf.TensorSpec((1,), tf.int32)
    classifier_flops = forward_flops(lambda x: resnet(x, training=False), image)
    masker_flops = forward_flops(lambda x, c: model.masker({"image": x, "class_id": c}, training=False), image, class_id)
    encoder_flops = forward_flops(lambda x: model.masker.encoder(x, training=False), image)
    decoder_flops = masker_flops - encoder_flops
    # Per image: the encoder forward, the decoder forward and backward (~3x), the classifier
    # forward on the preserved and the destroyed image and back to the mask (~2x each, no weight
    # gradients). An ordinary training step is ~3x its forward pass.
    step_flops = encoder_flops + 3 * decoder_flops + 2 * 2 * classifier_flops
    print(f"forward GFLOPs per image: ResNet50 {classifier_flops / 1e9:.2f}, encoder {encoder_flops / 1e9:.2f}, "
          f"decoder {decoder_flops / 1e9:.2f}; masker training step ~{step_flops / 1e9:.1f} GFLOPs per image, "
          f"a ResNet50 training step ~{3 * classifier_flops / 1e9:.1f}")
    ratios = []
    for r in range(args.rounds):
        classifier_step, masker_step = seconds_per_step(trained), seconds_per_step(model)
        ratios.append(masker_step / classifier_step)
        print(f"round {r}: ResNet50 training step {classifier_step:.2f} s, masker training step "
              f"{masker_step:.2f} s, ratio {ratios[-1]:.2f} (batch {args.batch}, 224x224)")
    if ratios:
        print(f"median ratio {statistics.median(ratios):.2f} over {args.rounds} rounds")


if __name__ == "__main__":
    main()
