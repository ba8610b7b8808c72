"""`SaliencyModel`: a masker trained against a frozen classifier.

`model.fit(dataset_of_(images, labels))` trains the masker with the masking objective;
`model.predict((images, class_ids))` returns masks at image resolution. Images are RGB
pixels in [0, 255].
"""

import keras
from keras import ops

from keras_saliency import objective
from keras_saliency.alternatives import apply_mask, mixed_alternatives, PIXEL_HALF_RANGE
from keras_saliency.config import as_config
from keras_saliency.encoders import frozen_clone
from keras_saliency.layers import PACKAGE, Preprocessing
from keras_saliency.masker import upsample_masks

CLASSIFIER_OUTPUTS = ("logits", "probabilities")
TERMS = ("loss", "area", "fake_area", "smoothness", "preserver", "destroyer", "exists")


def classifier_output_kind(classifier):
    """"probabilities" when the classifier's last layer applies a softmax, else "logits"."""
    last = classifier.layers[-1]
    activation = getattr(last, "activation", None)
    if activation is keras.activations.softmax or isinstance(last, keras.layers.Softmax):
        return "probabilities"
    return "logits"


def split_inputs(inputs):
    """`(images, class_ids)`, `[images, class_ids]`, `{"image", "class_id"}` or images alone
    (class ids then come from the classifier's prediction: returned as None)."""
    if isinstance(inputs, dict):
        if "image" not in inputs:
            raise ValueError(
                f"Expected a dict with keys 'image' and 'class_id'. Received keys: {sorted(inputs)}"
            )
        return inputs["image"], inputs.get("class_id")
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 1:
            return inputs[0], None
        if len(inputs) != 2:
            raise ValueError(
                f"Expected (images, class_ids). Received a sequence of {len(inputs)} elements"
            )
        return inputs[0], inputs[1]
    return inputs, None


@keras.saving.register_keras_serializable(package=PACKAGE)
class SaliencyModel(keras.Model):
    """Masker + frozen classifier with the masking objective as its `train_step`.

    Args:
        masker: a `Masker`.
        classifier: the Keras classifier to explain. A frozen clone is used; the given model
            is never modified and never trained.
        config: a `SaliencyConfig` (or dict) with the objective's hyper-parameters.
        classifier_preprocessing: how [0, 255] pixels become the classifier's input
            (`layers.PREPROCESSING_MODES`).
        classifier_output: "logits", "probabilities" (log is taken) or "auto" (softmax last
            layer means probabilities).
        return_exists: `call`/`predict` return `{"mask", "exists"}` (exists as a
            probability) instead of masks only.
        upsample: return masks at image resolution (default) or at the masker's resolution.
        seed: seed of the fake labels, alternatives and noise drawn during training.
    """

    def __init__(
        self,
        masker,
        classifier,
        config=None,
        classifier_preprocessing="none",
        classifier_output="auto",
        return_exists=False,
        upsample=True,
        seed=None,
        **kwargs,
    ):
        clone_classifier = kwargs.pop("clone_classifier", True)
        super().__init__(**kwargs)
        self.config = as_config(config)
        if clone_classifier:
            classifier = frozen_clone(classifier, name=f"{classifier.name}_frozen")
        classifier.trainable = False
        self.masker = masker
        self.classifier = classifier
        self.classifier_preprocessing = classifier_preprocessing
        self.classifier_preprocessor = Preprocessing(classifier_preprocessing, dtype="float32")
        if classifier_output == "auto":
            classifier_output = classifier_output_kind(classifier)
        if classifier_output not in CLASSIFIER_OUTPUTS:
            raise ValueError(
                f"Expected classifier_output in {CLASSIFIER_OUTPUTS + ('auto',)}. "
                f"Received: classifier_output={classifier_output!r}"
            )
        self.classifier_output = classifier_output
        self.num_classes = int(classifier.outputs[0].shape[-1])
        if self.num_classes != masker.num_classes:
            raise ValueError(
                f"Expected a masker for the classifier's {self.num_classes} classes. "
                f"Received: a masker with num_classes={masker.num_classes}"
            )
        self.return_exists = bool(return_exists)
        self.upsample = bool(upsample)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.masker.set_phase(self.config.phase)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in TERMS}
        self.trackers["exists_accuracy"] = keras.metrics.Mean(name="exists_accuracy")
        self.built = True  # the masker and the classifier are built models

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def return_exists(self):
        return self._return_exists

    @return_exists.setter
    def return_exists(self, value):
        self._return_exists = bool(value)
        self.predict_function = None  # retrace: the outputs changed

    @property
    def image_size(self):
        return self.masker.image_size

    def set_phase(self, phase):
        """Switches the training phase ("selector" or "all"); recompile afterwards."""
        self.config = self.config.replace(phase=phase)
        self.masker.set_phase(phase)

    def classifier_logits(self, images):
        """The classifier's logits (or log-probabilities) for [0, 255] images."""
        outputs = self.classifier(self.classifier_preprocessor(images), training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        outputs = ops.cast(outputs, "float32")
        if self.classifier_output == "probabilities":
            outputs = ops.log(ops.clip(outputs, 1e-12, 1.0))
        return outputs

    def _check_class_ids(self, class_ids):
        # Out-of-range ids would silently gather garbage; this is checked eagerly only.
        try:
            values = ops.convert_to_numpy(class_ids)
        except Exception:  # symbolic tensor inside a traced function
            return
        bad = values[(values < 0) | (values >= self.num_classes)]
        if bad.size:
            raise ValueError(
                f"Expected class_ids in [0, {self.num_classes}). Received: class_ids={bad.tolist()}"
            )

    def call(self, inputs, training=False):
        images, class_ids = split_inputs(inputs)
        images = ops.cast(images, "float32")
        if class_ids is None:
            class_ids = ops.argmax(self.classifier_logits(images), axis=-1)
        else:
            self._check_class_ids(class_ids)
        class_ids = ops.reshape(ops.cast(class_ids, "int32"), (-1,))
        outputs = self.masker({"image": images, "class_id": class_ids}, training=training)
        masks = ops.cast(outputs["mask"], "float32")
        if self.upsample:
            masks = upsample_masks(masks, tuple(images.shape[1:3]))
        if self.return_exists:
            return {"mask": masks, "exists": ops.sigmoid(ops.cast(outputs["exists"], "float32"))}
        return masks

    def predict_step(self, data):
        # `predict((images, class_ids))` must not be read as (x, y); Keras' adapter wraps
        # the inputs in a 1-tuple.
        if isinstance(data, tuple) and len(data) == 1:
            data = data[0]
        return self(data, training=False)

    def _objective(self, images, labels, training):
        """Draws the selector (true or fake class), masks the images and scores them."""
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        batch = ops.shape(labels)[0]
        config = self.config
        if training and config.input_noise_std:
            images = images + keras.random.normal(
                ops.shape(images),
                stddev=config.input_noise_std * PIXEL_HALF_RANGE,
                seed=self.seed_generator,
            )
        is_fake = keras.random.uniform((batch,), seed=self.seed_generator) < (
            config.fake_label_probability
        )
        shift = keras.random.randint((batch,), 1, self.num_classes, seed=self.seed_generator)
        selector = ops.where(is_fake, (labels + shift) % self.num_classes, labels)
        is_real = 1.0 - ops.cast(is_fake, "float32")

        outputs = self.masker({"image": images, "class_id": selector}, training=training)
        masks = upsample_masks(outputs["mask"], tuple(images.shape[1:3]))
        if config.infill == "zero":
            alternatives = ops.full(ops.shape(images), PIXEL_HALF_RANGE, dtype="float32")
        else:
            alternatives = mixed_alternatives(
                images,
                blur_probability=config.blur_probability,
                blur_kernel_fraction=config.blur_kernel_fraction,
                blur_sigma_fraction=config.blur_sigma_fraction,
                colour_range=config.colour_range,
                noise_std=config.noise_std,
                seed=self.seed_generator,
            )
        preserved, destroyed = apply_mask(images, masks, alternatives)
        logits = self.classifier_logits(ops.concatenate([preserved, destroyed], axis=0))
        preserved_logits, destroyed_logits = logits[:batch], logits[batch:]
        terms = objective.saliency_objective(
            outputs["mask"],
            preserved_logits,
            destroyed_logits,
            labels,
            is_real,
            exists_logits=outputs["exists"],
            config=config,
        )
        exists = ops.cast(outputs["exists"], "float32") > 0
        terms["exists_accuracy"] = ops.mean(
            ops.cast(ops.equal(exists, is_real > 0.5), "float32")
        )
        return terms

    def _update_trackers(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        import tensorflow as tf

        images, labels = data[0], data[1]
        images = ops.cast(images, "float32")
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            terms = self._objective(images, labels, training=True)
            scaled = self.optimizer.scale_loss(terms["loss"])
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._update_trackers(terms)

    def test_step(self, data):
        images, labels = data[0], data[1]
        terms = self._objective(ops.cast(images, "float32"), labels, training=False)
        return self._update_trackers(terms)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "masker": keras.saving.serialize_keras_object(self.masker),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "config": self.config.get_config(),
            "classifier_preprocessing": self.classifier_preprocessing,
            "classifier_output": self.classifier_output,
            "return_exists": self.return_exists,
            "upsample": self.upsample,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["masker"] = keras.saving.deserialize_keras_object(config["masker"])
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(clone_classifier=False, **config)
