"""`SaliencyModel`: a masker trained against a frozen classifier.

`SaliencyModel.from_classifier(classifier, tap_layers=...)` builds one, `compile()` gives it
the recipe's optimizer, `model.fit(dataset_of_(images, labels))` trains the masker with the
masking objective; `model.predict((images, class_ids))` returns masks at image resolution and
`model.explain(images, class_ids)` masks and "exists" probabilities. Images are RGB pixels in
[0, 255].
"""

import logging

import numpy as np

import keras
from keras import ops

from keras_saliency.models import inputs as input_checks
from keras_saliency.models import objective
from keras_saliency.models.alternatives import apply_mask, mixed_alternatives, PIXEL_HALF_RANGE
from keras_saliency.models.config import as_config
from keras_saliency.models.encoders import frozen_clone
from keras_saliency.models.classifier_layers import classifier_output_kind, nested_layer
from keras_saliency.models.layers import PACKAGE, Preprocessing
from keras_saliency.models.masker import upsample_masks

CLASSIFIER_OUTPUTS = ("logits", "probabilities")
TERMS = ("loss", "area", "fake_area", "smoothness", "preserver", "destroyer", "graded", "exists")


def _is_tf_dataset(value):
    """Whether `value` is a `tf.data.Dataset` (TensorFlow imported only when it is loaded)."""
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def default_mask_stride(image_size):
    """1/4 of the input (the paper's) for images of 96 px and more, 1/2 for small images.

    Args:
        image_size: the input side in pixels.

    Example:

    >>> default_mask_stride(224), default_mask_stride(32)
    (4, 2)
    """
    return 4 if image_size >= 96 else 2


def default_decoder_filters(image_size):
    """The decoder's filters per upsampling stage: wider and deeper for images of 96 px and more.

    Args:
        image_size: the input side in pixels.

    Example:

    >>> default_decoder_filters(32)
    (64, 32)
    """
    return (256, 128, 64) if image_size >= 96 else (64, 32)


class _Functions:
    """Traced functions kept out of Keras' and TensorFlow's tracking (a plain object: a
    SavedModel export never saves them)."""

    def __init__(self):
        self.explain = {}
        self.masker = None  # the masker's inference graph (`SaliencyModel.inference_masker`)
        self.masker_source = None  # the masker it was built from


def _preset_design(classifier, preset, encoder, tap_layers, class_layer, config, explicit):
    """The resolved design of `from_classifier` with a preset: the preset's fields, the explicit
    ones, and what is read from the classifier (class layer, taps, mask stride)."""

    from keras_saliency.models import classifier_layers
    from keras_saliency.models.presets import objective_config, preset_mask_stride, resolved_preset

    design = resolved_preset(preset, **explicit)
    name = design["name"]
    gated = design["class_gate"] != "none" or design["selector_init"] == "class_layer"
    separate = encoder not in (None, "classifier")
    found, reason = (None, "its encoder is a separate backbone") if separate else (None, None)
    if class_layer:
        layer = nested_layer(classifier, class_layer)
        found = classifier_layers.ClassLayer(class_layer, tap_layers[-1] if tap_layers else None,
                                             "dense" if isinstance(layer, keras.layers.Dense) else "conv")
    elif not separate:
        found, reason = classifier_layers.find_class_layer(classifier)
    if gated and (found is None or (tap_layers and found.features and tap_layers[-1] != found.features)):
        if found is not None:
            reason = f"its deepest tap {tap_layers[-1]!r} is not the class layer's input {found.features!r}"
        design.update(design.get("ungated", {"class_gate": "none", "selector_init": "random"}))
        found = None
        logging.getLogger("keras_saliency").warning(
            "Masker preset %r: the ungated design for %r, because %s.", name, classifier.name, reason
        )
    if not tap_layers and not separate:
        deepest = found.features if found is not None else classifier_layers.deepest_feature_layer(classifier)
        tap_layers = classifier_layers.automatic_tap_layers(classifier, deepest)
    image_size = int(classifier.input_shape[1])
    if not separate:
        deepest_stride = dict(classifier_layers.layer_strides(classifier)).get(tap_layers[-1], 32)
        if explicit.get("mask_stride") is None:
            design["mask_stride"] = preset_mask_stride(design, image_size, deepest_stride)
    if config is None:
        config = objective_config(design["objective"])
    return {
        **{key: design[key] for key in ("decoder", "decoder_filters", "mask_stride", "head", "class_gate",
                                        "gate_options", "selector_init")},
        "preset": name,
        "tap_layers": tap_layers,
        "class_layer": found.name if found is not None else None,
        "config": config,
    }


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
        upsample: return masks at image resolution (default) or at the masker's resolution.
        seed: seed of the fake labels, alternatives and noise drawn during training.
        class_names: None or one name per class of the classifier, saved in the model's
            config, so that a loaded `.keras` file can name the class it explains.
        preset: the name of the masker preset it was built from (saved; None: none).
        class_layer: the classifier's class layer (a name, "/"-joined through nested models)
            that a class-gated masker reads in place of its own copy, so the file holds those
            weights once (saved; None: the gate keeps its copy).

    Example:

    ```python
    import keras_saliency
    from keras_saliency.testing import tiny_classifier, TINY_TAPS

    model = keras_saliency.SaliencyModel.from_classifier(tiny_classifier(), tap_layers=TINY_TAPS)
    model.compile()  # Adam, learning rate 1e-3
    model.fit(images, labels, epochs=10)
    out = model.explain(images[:8], labels[:8])  # {"mask": (8, S, S, 1), "exists": (8,)}
    ```
    """

    def __init__(
        self,
        masker,
        classifier,
        config=None,
        classifier_preprocessing="none",
        classifier_output="auto",
        upsample=True,
        seed=None,
        class_names=None,
        preset=None,
        class_layer=None,
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
        self.upsample = bool(upsample)
        self.class_names = self._checked_class_names(class_names)
        self.seed = seed
        self.preset = preset
        self.class_layer = class_layer
        if class_layer and masker.class_gate != "none":
            masker.get_layer("class_gate").share_class_layer(nested_layer(classifier, class_layer))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.masker.set_phase(self.config.phase)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in TERMS}
        self.trackers["exists_accuracy"] = keras.metrics.Mean(name="exists_accuracy")
        self._functions = _Functions()
        self.built = True  # the masker and the classifier are built models

    @classmethod
    def from_classifier(
        cls,
        classifier,
        encoder=None,
        tap_layers=None,
        encoder_preprocessing=None,
        classifier_preprocessing="auto",
        encoder_weights="imagenet",
        config=None,
        decoder_filters=None,
        mask_stride=None,
        head=None,
        confidence=0.0,
        seed=None,
        decoder=None,
        class_gate=None,
        class_layer=None,
        gate_options=None,
        class_names=None,
        preset=None,
        selector_init=None,
    ):
        """A masker for `classifier` (frozen, never modified) and the model that trains it.

        With a `preset` (`keras_saliency.models.presets`), or with neither `tap_layers` nor
        `encoder` given (then the default preset, `"gated-fpn"`), everything is read from the
        classifier: its class layer (a Dense after global average pooling or a 1x1 convolution
        before it) for the class gate and the class selector's start, the taps by stride (the
        class layer's input features and the last layer at each of the two shallower
        resolutions), the mask's resolution from the input size; the objective is the preset's.
        A classifier without a usable class layer (a hidden layer after the pooling, a ViT)
        gets the preset's ungated design, and the "keras_saliency" logger says so in one line.
        Explicit arguments override the preset's fields. Without a preset and with `tap_layers`
        the design arguments default to the authors' (U-Net, |a| / (|a| + |b|) head, no gate).

        Args:
            classifier: the Keras classifier to explain, with a fixed input size.
            encoder: None or "classifier" (the classifier's own layers `tap_layers` are the
                encoder), a backbone name in `encoders.BACKBONES` (when the classifier is that
                same application, its own layers are tapped; otherwise a separate backbone with
                `encoder_weights` is built), or an encoder model from `encoders.build_encoder`.
            tap_layers: the classifier's layer names used as features, shallow to deep (with
                `encoder=None`).
            encoder_preprocessing: how [0, 255] pixels become the tapped encoder's input
                (default: `classifier_preprocessing`).
            classifier_preprocessing: how [0, 255] pixels become the classifier's input
                (`layers.PREPROCESSING_MODES`), or "auto" (default): read from the classifier
                (`classifier_layers.preprocessing_mode`: its own rescaling layer, else a Keras
                Applications name; "none" for any other); the "keras_saliency" logger says
                which mode it read, unless "none".
            encoder_weights: weights of a separate backbone encoder ("imagenet" or None).
            config: a `SaliencyConfig` (or dict) with the objective's hyper-parameters.
            decoder_filters: the decoder's widths (default: by image size, 64,32 below 96 px).
            mask_stride: image side / mask side (default: 4, or 2 below 96 px).
            head, confidence, decoder, class_gate, gate_options: the `Masker`'s options.
            class_layer: the classifier's last 1x1 convolution (with a `class_gate`).
            seed: seed of the fake labels, alternatives and noise drawn during training.
            class_names: None or one name per class, saved with the model.
            preset: a masker preset name (`presets.MASKER_PRESETS`), or None: the default
                preset when neither `tap_layers` nor `encoder` is given.
            selector_init: `"class_layer"` (each class's selector starts as the classifier's
                class layer: its CAM) or `"random"`; default: the preset's, else random.

        Returns:
            A `SaliencyModel`, ready to `compile()` and `fit`.

        Example:

        ```python
        import keras
        from keras_saliency import SaliencyModel

        classifier = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
        model = SaliencyModel.from_classifier(classifier)  # the default preset, automatic taps
        model.compile()
        ```
        """
        from keras_saliency.models.encoders import BACKBONES, build_encoder, feature_strides, shared_taps
        from keras_saliency.models.masker import Masker

        image_size = classifier.input_shape[1]
        if image_size is None:
            raise ValueError(
                f"Expected a classifier with a fixed input size. Received input shape {classifier.input_shape}"
            )
        preset_name = None
        if classifier_preprocessing == "auto":
            from keras_saliency.models.classifier_layers import preprocessing_mode

            classifier_preprocessing, source = preprocessing_mode(classifier)
            if source:
                logging.getLogger("keras_saliency").info(
                    "classifier_preprocessing=%r, read from %s (give classifier_preprocessing to change it).",
                    classifier_preprocessing, source,
                )
        if preset is not None or (encoder is None and not tap_layers):
            design = _preset_design(
                classifier, preset, encoder, tap_layers, class_layer, config,
                dict(decoder=decoder, decoder_filters=decoder_filters, mask_stride=mask_stride, head=head,
                     class_gate=class_gate, gate_options=gate_options, selector_init=selector_init),
            )
            preset_name = design.pop("preset")
            tap_layers, class_layer, config = design.pop("tap_layers"), design.pop("class_layer"), design.pop("config")
            decoder, decoder_filters, mask_stride = design["decoder"], design["decoder_filters"], design["mask_stride"]
            head, class_gate, gate_options = design["head"], design["class_gate"], design["gate_options"]
            selector_init = design["selector_init"]
        head, decoder, class_gate = head or "abs_ratio", decoder or "unet", class_gate or "none"
        selector_init = selector_init or "random"
        if selector_init not in ("random", "class_layer"):
            raise ValueError(f"Expected selector_init in ('random', 'class_layer'). Received: {selector_init!r}")
        if isinstance(encoder, keras.Model):
            encoder_model = encoder
        elif encoder is None or encoder == "classifier":
            if not tap_layers:
                raise ValueError(
                    "Expected tap_layers (the classifier's layers to use as the encoder's features, "
                    "shallow to deep) or an encoder backbone name. Received: neither"
                )
            # One frozen copy of the classifier, whose own layers are also the encoder: its
            # weights are held, and saved, once.
            classifier = frozen_clone(classifier, name=f"{classifier.name}_frozen")
            encoder_model = build_encoder(
                classifier, tap_layers, preprocessing=encoder_preprocessing or classifier_preprocessing,
                share_weights=True,
            )
        elif encoder in BACKBONES:
            spec = BACKBONES[encoder]
            layer_names = {layer.name for layer in classifier.layers}
            if set(spec.tap_layers) <= layer_names:  # the classifier is that application
                classifier = frozen_clone(classifier, name=f"{classifier.name}_frozen")
                encoder_model = build_encoder(classifier, spec.tap_layers, preprocessing=spec.preprocessing,
                                              share_weights=True)
            else:
                encoder_model = build_encoder(encoder, image_size=image_size, weights=encoder_weights)
        else:
            raise ValueError(
                f"Expected encoder in {sorted(BACKBONES) + ['classifier']} or a model. Received: {encoder!r}"
            )
        shares = shared_taps(encoder_model) is not None  # the encoder is this classifier's layers
        num_classes = int(classifier.outputs[0].shape[-1])
        masker = Masker(
            encoder_model,
            num_classes,
            decoder_filters=tuple(decoder_filters or default_decoder_filters(image_size)),
            mask_stride=mask_stride
            or min(default_mask_stride(image_size), feature_strides(encoder_model)[-1]),
            head=head,
            confidence=confidence,
            decoder=decoder,
            class_gate=class_gate,
            gate_options=gate_options,
            name="masker",
        )
        if class_gate != "none":
            if not class_layer:
                raise ValueError(
                    "Expected class_layer (the classifier's last 1x1 convolution to the classes) with "
                    f"class_gate={class_gate!r}. Received: class_layer={class_layer!r}"
                )
            masker.set_class_gate_from(nested_layer(classifier, class_layer))
        if selector_init == "class_layer":
            from keras_saliency.models.classifier_layers import init_selector_from_class_layer

            if not class_layer:
                raise ValueError("Expected class_layer (the classifier's class layer) with "
                                 "selector_init='class_layer'. Received: class_layer=None")
            init_selector_from_class_layer(masker, nested_layer(classifier, class_layer))
        return cls(
            masker,
            classifier,
            config=as_config(config),
            classifier_preprocessing=classifier_preprocessing,
            seed=seed,
            class_names=class_names,
            clone_classifier=not shares,
            preset=preset_name,
            class_layer=class_layer if class_gate != "none" else None,
        )

    def compile(self, optimizer="auto", learning_rate=1e-3, weight_decay=None, **kwargs):
        """`Model.compile` with the recipe's optimizer by default.

        The loss is the masking objective of `train_step`: give no `loss`.

        Args:
            optimizer: "auto" (Adam, or AdamW when `weight_decay` is given, as in the authors'
                code), or any Keras optimizer (or its name).
            learning_rate: the "auto" optimizer's learning rate.
            weight_decay: the "auto" optimizer's weight decay (None: Adam).
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`, `steps_per_execution`).

        Example:

        ```python
        model.compile()  # Adam(1e-3)
        model.compile(learning_rate=1e-4, weight_decay=1e-4)  # AdamW, phase 2 of the schedule
        ```
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            if weight_decay:
                optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
            else:
                optimizer = keras.optimizers.Adam(learning_rate)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for models that override `compile`: the saved optimizer (and, once
        # built, its state) is restored as `Model.compile_from_config` does.
        optimizer = config.get("optimizer")
        if isinstance(optimizer, dict) and str(optimizer.get("module", "")).startswith("keras.src.backend."):
            # Keras' PyTorch optimizers are saved under their backend's module, which would load
            # PyTorch on any backend: the public class of the same name instead
            config = dict(config, optimizer=dict(optimizer, module="keras.optimizers"))
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def _checked_class_names(self, names):
        if names is None:
            return None
        if isinstance(names, str) or not all(isinstance(n, str) for n in names) or len(names) != self.num_classes:
            raise ValueError(
                f"Expected class_names to be {self.num_classes} strings (one per class). "
                f"Received: {str(names)[:80]}"
            )
        return [str(n) for n in names]

    def set_class_names(self, names):
        """Sets (or clears, with None) the class names saved with the model."""
        self.class_names = self._checked_class_names(names)

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def image_size(self):
        return self.masker.image_size

    def set_objective(self, **changes):
        """Changes fields of the objective's `SaliencyConfig`; the next `fit` or `evaluate` uses
        them (optimizer state is kept).

        Args:
            **changes: `SaliencyConfig` fields, e.g. `graded_weight=1.0`.

        Example:

        ```python
        model.set_objective(graded_weight=1.0)
        model.fit(train, epochs=1)
        ```
        """
        self.config = self.config.replace(**changes)
        self.train_function = self.test_function = None

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

    def check_inputs(self, images, class_ids=None):
        """Host-side validation (`keras_saliency.models.inputs.check_inputs`) at this model's
        image size and classes: `(images float32, class_ids int32 or None)` or a `ValueError`.

        Args:
            images: (N, S, S, 3) RGB pixels in [0, 255].
            class_ids: (N,) or (N, 1) integer class ids, or None.

        Example:

        ```python
        images, class_ids = model.check_inputs(images, [3, 5])
        ```
        """
        return input_checks.check_inputs(images, class_ids, self.image_size, self.num_classes)

    def call(self, inputs, training=False):
        return self._masks_and_exists(inputs, training=training)["mask"]

    def _masks_and_exists(self, inputs, training=False):
        """`{"mask", "exists"}` for `inputs` as `call` takes them: `explain`'s traced step."""
        images, class_ids = input_checks.split_inputs(inputs)
        images, class_ids, valid = input_checks.validate(images, class_ids, self.image_size, self.num_classes)
        if class_ids is None:
            class_ids = ops.argmax(self.classifier_logits(images), axis=-1)
        class_ids = ops.cast(class_ids, "int32")
        masker = self.masker if training else self.inference_masker()
        outputs = masker({"image": images, "class_id": class_ids}, training=training)
        masks = ops.cast(outputs["mask"], "float32")
        if self.upsample:
            # the model's size, not the traced input's (a relaxed retrace has unknown sizes)
            masks = upsample_masks(masks, self.image_size)
        exists = ops.sigmoid(ops.cast(outputs["exists"], "float32"))
        if valid is not None:  # XLA: invalid inputs give NaN
            poison = ops.where(valid, 0.0, float("nan"))
            masks, exists = masks + poison, exists + poison
        return {"mask": masks, "exists": exists}

    def inference_masker(self):
        """The masker as `call`, `predict` and `explain` run it: the same function, with the batch
        norms of its encoder (the classifier's own layers) folded into the convolutions before
        them (`keras_saliency.models.folding`), which saves a pass over the activations per batch
        norm. Built once over the masker's own layers, so it always has the masker's weights;
        training runs the masker itself.

        Example:

        ```python
        outputs = model.inference_masker()({"image": images, "class_id": class_ids})
        ```
        """
        if self._functions.masker is None or self._functions.masker_source is not self.masker:
            from keras_saliency.models.folding import folded_inference_model

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                with tf.init_scope():  # built eagerly, also when first asked for inside a traced function
                    self._functions.masker = folded_inference_model(self.masker)
            else:  # no weights of its own: built alike inside a traced JAX function
                self._functions.masker = folded_inference_model(self.masker)
            if self._functions.masker_source is not None:
                self._functions.explain.clear()  # traced over the previous masker
            self._functions.masker_source = self.masker
        return self._functions.masker

    def explain(self, images, class_ids=None, batch_size=None):
        """Masks and "exists" probabilities: the one way to ask for "exists" (`predict` and
        `call` give the masks alone).

        Args:
            images: (N, S, S, 3) RGB pixels in [0, 255] (NumPy array or eager tensor).
            class_ids: (N,) integer class ids to explain, or None for each image's predicted
                class.
            batch_size: images per model call (default 32).

        Returns:
            `{"mask": (N, S, S, 1) float32 in [0, 1], "exists": (N,) float32}` as NumPy arrays
            (masks at image resolution unless the model was built with `upsample=False`).
            Bad inputs raise `ValueError("Expected ... Received ...")` before anything runs.

        Example:

        ```python
        out = model.explain(images, class_ids)
        out["mask"].shape, out["exists"].shape  # (N, S, S, 1), (N,)
        ```
        """
        images, class_ids = self.check_inputs(images, class_ids)
        batch_size = int(batch_size or 32)
        if batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
        with_ids = class_ids is not None
        function = self._functions.explain.get(with_ids)
        if function is None:
            function = self._functions.explain[with_ids] = self._explain_function(with_ids)
        masks, exists = [], []
        for start in range(0, len(images), batch_size):
            batch = [ops.convert_to_tensor(np.asarray(images[start : start + batch_size], np.float32))]
            if with_ids:
                batch.append(ops.convert_to_tensor(class_ids[start : start + batch_size]))
            outputs = function(*batch)
            masks.append(ops.convert_to_numpy(outputs["mask"]))
            exists.append(ops.convert_to_numpy(outputs["exists"]).reshape(-1))
        return {"mask": np.concatenate(masks), "exists": np.concatenate(exists)}

    def _explain_function(self, with_ids):
        """`explain`'s compiled step on this backend: a `tf.function` (TensorFlow), a `jax.jit`
        function of the model's variables (JAX), the eager call without gradients (PyTorch)."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            size = self.image_size
            image_spec = tf.TensorSpec([None, size, size, 3], tf.float32)
            if with_ids:
                return tf.function(
                    lambda x, ids: self._masks_and_exists((x, ids)),
                    input_signature=[image_spec, tf.TensorSpec([None], tf.int32)],
                )
            return tf.function(lambda x: self._masks_and_exists(x), input_signature=[image_spec])
        if backend == "jax":
            import jax

            self.inference_masker()  # built before tracing
            variables = self.variables

            def run(values, *batch):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return self._masks_and_exists(tuple(batch) if with_ids else batch[0])

            compiled = jax.jit(run)
            return lambda *batch: compiled([v.value for v in variables], *batch)
        if backend == "torch":
            import torch

            def run(*batch):
                with torch.no_grad():
                    return self._masks_and_exists(tuple(batch) if with_ids else batch[0])

            return run
        return lambda *batch: self._masks_and_exists(tuple(batch) if with_ids else batch[0])

    def make_predict_function(self, force=False):
        # `predict` is never XLA-compiled (even with jit_compile "auto" on a GPU): its input
        # checks are assertions, which XLA drops. A `tf.function(jit_compile=True)` of the
        # model returns NaN for invalid inputs instead.
        if self.predict_function is not None and not force:
            return self.predict_function
        jit_compile = self.jit_compile
        self.jit_compile = False
        try:
            return super().make_predict_function(force)
        finally:
            self.jit_compile = jit_compile

    def fit(self, x=None, y=None, *args, **kwargs):
        """`Model.fit`; a `tf.data` dataset or a generator is taken as it comes (`shuffle` defaults
        to False for them: Keras would only warn that it cannot shuffle them)."""
        import inspect

        streamed = isinstance(x, keras.utils.PyDataset) or inspect.isgenerator(x) or _is_tf_dataset(x)
        if "shuffle" not in kwargs and streamed:
            kwargs["shuffle"] = False
        return super().fit(x, y, *args, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`Model.predict`, with arrays checked on the host first (`check_inputs`): bad class ids
        or images raise `ValueError("Expected ... Received ...")` before anything runs. Datasets
        and generators are checked batch by batch inside the traced step (InvalidArgumentError)."""
        if isinstance(x, tuple) and len(x) > 2:
            raise ValueError(f"Expected images, or (images, class_ids). Received: a tuple of {len(x)} items")
        if isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) in (1, 2)):
            images, class_ids = input_checks.split_inputs(x)
        else:
            images, class_ids = x, None
        if input_checks.is_array_like(images) and (class_ids is None or input_checks.is_array_like(class_ids)):
            images, class_ids = self.check_inputs(images, class_ids)
            if steps is None and not callbacks:
                # Arrays go through `explain`'s traced function: the same masks without Keras'
                # per-call set-up of a data adapter and an epoch loop (most of a 128-image call).
                out = self.explain(images, class_ids, batch_size)
                return out["mask"]
            x = images if class_ids is None else (images, class_ids)
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)

    def predict_step(self, *args):
        # `predict((images, class_ids))` must not be read as (x, y); Keras' adapter wraps
        # the inputs in a 1-tuple. JAX passes `(state, data)` and gets the state back.
        *state, data = args
        if isinstance(data, tuple) and len(data) == 1:
            data = data[0]
        if state:
            return super().predict_step(*state, (data,))
        return self(data, training=False)

    def _objective(self, images, labels, training):
        """Draws the selector (true or fake class), masks the images and scores them."""
        config = self.config
        if config.target == "prediction" or labels is None:
            # The classifier's own top-1 class on the clean image (no gradient flows to images).
            labels = ops.argmax(self.classifier_logits(images), axis=-1)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        batch = ops.shape(labels)[0]
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
        scored = [preserved, destroyed]
        graded = None
        if config.graded_weight:
            # The ranking term: each image's mask top fraction kept (half the images) or removed.
            low, high = config.graded_fractions
            fractions = keras.random.uniform((batch,), low, high, seed=self.seed_generator)
            keep = ops.cast(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, "float32")
            top = objective.soft_top_fraction(masks, fractions)
            kept, removed = apply_mask(images, top, alternatives)
            keep_4d = ops.reshape(keep, (-1, 1, 1, 1))
            scored.append(keep_4d * kept + (1.0 - keep_4d) * removed)
        logits = self.classifier_logits(ops.concatenate(scored, axis=0))
        preserved_logits, destroyed_logits = logits[:batch], logits[batch : 2 * batch]
        if config.graded_weight:
            graded = (logits[2 * batch :], keep)
        terms = objective.saliency_objective(
            outputs["mask"],
            preserved_logits,
            destroyed_logits,
            labels,
            is_real,
            exists_logits=outputs["exists"],
            config=config,
            graded=graded,
        )
        exists = ops.cast(outputs["exists"], "float32") > 0
        terms["exists_accuracy"] = ops.mean(
            ops.cast(ops.equal(exists, is_real > 0.5), "float32")
        )
        return terms

    def _update_trackers(self, terms):
        # The ranking term is logged only while it is on (`set_objective` retraces the steps;
        # `training.fit.RunLog` widens a continued run's log when it appears).
        shown = {name: tracker for name, tracker in self.trackers.items()
                 if name != "graded" or self.config.graded_weight}
        for name, tracker in shown.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in shown.items()}

    @staticmethod
    def _images_and_labels(data):
        """`(images, labels or None)` of a training batch: `(images, labels)`, or images alone
        (then every mask explains the classifier's own top-1 class)."""
        if isinstance(data, (tuple, list)):
            if len(data) == 1 or (len(data) >= 2 and data[1] is None):
                inner = data[0]
                if isinstance(inner, (tuple, list)) and len(inner) == 2:  # ((images, labels),)
                    return inner[0], inner[1]
                return inner, None
            return data[0], data[1]
        return data, None

    def train_step(self, *args):
        # One step of the masking objective (`_objective`) on each backend, the classifier
        # frozen: TensorFlow and PyTorch take `(data)`, JAX `(state, data)` and returns the state.
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        (data,) = args
        images, labels = self._images_and_labels(data)
        images = ops.cast(images, "float32")
        variables = self.trainable_variables
        if backend == "torch":
            self.zero_grad()
            terms = self._objective(images, labels, training=True)
            self.optimizer.scale_loss(terms["loss"]).backward()
            gradients = [v.value.grad for v in variables]
            import torch

            with torch.no_grad():
                self.optimizer.apply(gradients, variables)
            return self._update_trackers(terms)
        import tensorflow as tf

        with tf.GradientTape() as tape:
            terms = self._objective(images, labels, training=True)
            scaled = self.optimizer.scale_loss(terms["loss"])
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._update_trackers(terms)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        (data,) = args
        images, labels = self._images_and_labels(data)
        terms = self._objective(ops.cast(images, "float32"), labels, training=False)
        return self._update_trackers(terms)

    def _stateless_objective(self, trainable, non_trainable, data, training):
        """`(terms, non-trainable values after the step)`: `_objective` as a pure function of
        the variables' values (JAX), the seed generator's state among them."""
        images, labels = self._images_and_labels(data)
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            terms = self._objective(ops.cast(images, "float32"), labels, training=training)
        return terms, [scope.get_current_value(v) for v in self.non_trainable_variables]

    def _stateless_trackers(self, metrics_values, terms):
        mapping = list(zip(self.metrics_variables, metrics_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._update_trackers(terms)
        return logs, [scope.get_current_value(v) for v in self.metrics_variables]

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state

        def loss(trainable):
            terms, updated = self._stateless_objective(trainable, non_trainable, data, training=True)
            mapping = list(zip(self.optimizer.variables, optimizer_values))
            with keras.StatelessScope(state_mapping=mapping):
                scaled = self.optimizer.scale_loss(terms["loss"])
            return scaled, (terms, updated)

        (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss, has_aux=True)(trainable)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        logs, metrics_values = self._stateless_trackers(metrics_values, terms)
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def _jax_test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        terms, non_trainable = self._stateless_objective(trainable, non_trainable, data, training=False)
        logs, metrics_values = self._stateless_trackers(metrics_values, terms)
        return logs, (trainable, non_trainable, metrics_values)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "masker": keras.saving.serialize_keras_object(self.masker),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "config": self.config.get_config(),
            "classifier_preprocessing": self.classifier_preprocessing,
            "classifier_output": self.classifier_output,
            "upsample": self.upsample,
            "seed": self.seed,
            "class_names": self.class_names,
            "preset": self.preset,
            "class_layer": self.class_layer,
        }

    @classmethod
    def from_config(cls, config):
        from keras_saliency.models.encoders import build_encoder
        from keras_saliency.models.masker import Masker

        config = dict(config)
        if config.pop("return_exists", False):  # the files of version 0.1.0 that saved it True
            logging.getLogger("keras_saliency").warning(
                "This file's model returned {'mask', 'exists'} from predict; it now returns the masks: "
                "use model.explain(images, class_ids) for masks and 'exists'")
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        masker_config = dict(config["masker"].get("config", {}))
        shared = masker_config.get("encoder")
        if isinstance(shared, dict) and "shared_taps_of_classifier" in shared:
            # The encoder is the classifier's own layers: rebuilt on the loaded classifier.
            taps = shared["shared_taps_of_classifier"]
            masker_config["encoder"] = build_encoder(
                config["classifier"], taps["tap_layers"], image_size=taps["image_size"],
                preprocessing=taps["preprocessing"], name=taps["name"], share_weights=True,
            )
            config["masker"] = Masker.from_config(masker_config)
        else:
            config["masker"] = keras.saving.deserialize_keras_object(config["masker"])
        return cls(clone_classifier=False, **config)
