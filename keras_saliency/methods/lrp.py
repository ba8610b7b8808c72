"""Layer-wise relevance propagation (LRP; Bach et al. 2015, Montavon et al. 2019) for Keras 3
classifiers, with the two composites most used on convolutional networks (as named and
defined by the Zennit library, Anders et al. 2021):

- `lrp_epsilon_gamma_box`: the z^B (box) rule on the layers that see the pixels, LRP-gamma
  (gamma 0.25) on the other convolutions, LRP-epsilon (epsilon 1e-6) on dense layers.
- `lrp_epsilon_plus_flat`: the flat rule on the layers that see the pixels, z+ (alpha 1,
  beta 0) on the other convolutions, LRP-epsilon (epsilon 1e-6) on dense layers.

Relevance starts at the explained class's logit (the input of a final softmax), is propagated
layer by layer through the classifier's graph (Sequential, functional, nested models) and
ends at the [0, 255] pixels: the map is the relevance summed over the colour channels.

Rules (z_k = sum_j x_j w_jk + b_k, stab(z) = z + s * sign(z) with sign(0) = 1, stabiliser s):
- epsilon: R_j = x_j sum_k w_jk R_k / stab(z_k), s = `epsilon`.
- gamma (the generalised form that also handles negative inputs, e.g. after a LeakyReLU): for
  z_k > 0 the positive contributions x+ (w + g w+) + x- (w + g w-) (bias b + g b+) share R_k, for
  z_k < 0 the negative ones x+ (w + g w-) + x- (w + g w+) (bias b + g b-), g = `gamma`.
- zplus (alpha 1, beta 0): R_k shared by x+ w+ + x- w- (bias b+).
- zbox: R_j = (x_j w_jk - l_j w+_jk - h_j w-_jk) R_k / stab(sum_j ...), with the lowest and
  highest values l, h the pixels can take in that layer's input (pixels [0, 255] through the
  model's preprocessing, e.g. its Rescaling or Normalization layer).
- flat: R_j = sum_k R_k / (number of inputs of k), whatever the weights and inputs.
- average pooling (AveragePooling2D, GlobalAveragePooling2D) and Add: the z-rule (x_j R_k /
  stab(z_k)); max pooling: the whole relevance to the maximum (winner takes all, the gradient
  of the max); Flatten, Reshape, padding, cropping, Concatenate: relevance follows the values;
  activations, Dropout, Rescaling, Normalization: relevance passes unchanged.
Batch normalisation that directly follows a Conv2D or Dense layer (with a linear activation,
its only consumer) is folded into it first; any other batch normalisation passes relevance
unchanged (Zennit's default without its canonizer). Every other layer raises an error naming
it.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_saliency.methods.autodiff import vector_jacobian
from keras_saliency.methods.base import SaliencyMethod
from keras_saliency.models.compiled import compiled

LINEAR_RULES = ("epsilon", "gamma", "zplus", "zbox", "flat")

# Layers by how relevance crosses them.
_PASS = (
    keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
    keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization, keras.layers.Identity, keras.layers.Rescaling,
    keras.layers.Normalization, keras.layers.BatchNormalization,
)
_ROUTE = (
    keras.layers.MaxPooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten,
    keras.layers.Reshape, keras.layers.ZeroPadding2D, keras.layers.Cropping2D,
    keras.layers.Concatenate, keras.layers.Permute,
)
# Linear maps with non-negative weights (the z-rule through them): pooling, sums, resizing.
_NORM = (keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D, keras.layers.Add,
         keras.layers.Resizing, keras.layers.UpSampling2D)
_RESIZE_INTERPOLATIONS = ("nearest", "bilinear", "area")  # non-negative weights
_LINEAR = (keras.layers.Conv2D, keras.layers.Dense)
_ACTIVATIONS = ("linear", "relu", "leaky_relu", "relu6", "elu")  # monotonic: relevance passes
SUPPORTED_LAYERS = tuple(
    sorted({cls.__name__ for cls in _PASS + _ROUTE + _NORM + _LINEAR} | {"Activation", "InputLayer"})
)


@dataclasses.dataclass(frozen=True)
class Composite:
    """Which LRP rule each linear layer gets, with the rules' parameters.

    Args:
        first: rule of the Conv2D / Dense layers that see the pixels (no Conv2D / Dense layer
            before them), one of `LINEAR_RULES`.
        convolution: rule of the other Conv2D layers.
        dense: rule of the other Dense layers.
        epsilon: LRP-epsilon's stabiliser, added to z_k with its sign (absolute, Zennit's
            default 1e-6).
        gamma: LRP-gamma's weight of the positive (negative) parts.
        stabilizer: the other rules' stabiliser of their denominators (Zennit's default 1e-6).
        pixel_range: the values a pixel can take before the classifier's preprocessing; the
            z^B rule's bounds are this range through the preprocessing.

    Example:

    ```python
    composite = Composite(first="zbox", convolution="gamma", dense="epsilon", gamma=0.25)
    relevance = LRP(classifier, composite).relevance(images, class_ids)
    ```
    """

    first: str = "zbox"
    convolution: str = "gamma"
    dense: str = "epsilon"
    epsilon: float = 1e-6
    gamma: float = 0.25
    stabilizer: float = 1e-6
    pixel_range: tuple = (0.0, 255.0)

    def __post_init__(self):
        for field in ("first", "convolution", "dense"):
            if getattr(self, field) not in LINEAR_RULES:
                raise ValueError(
                    f"Expected {field} in {LINEAR_RULES}. Received: {field}={getattr(self, field)!r}"
                )
        for field in ("epsilon", "stabilizer", "gamma"):
            if not getattr(self, field) >= 0:
                raise ValueError(f"Expected {field} >= 0. Received: {field}={getattr(self, field)}")


def epsilon_gamma_box(epsilon=1e-6, gamma=0.25, stabilizer=1e-6):
    """Zennit's EpsilonGammaBox: z^B first, gamma on convolutions, epsilon on dense layers.

    Args:
        epsilon: LRP-epsilon's stabiliser on dense layers. Defaults to 1e-6.
        gamma: LRP-gamma's weight of the positive (negative) parts. Defaults to 0.25.
        stabilizer: the other rules' stabiliser. Defaults to 1e-6.

    Example:

    ```python
    composite = epsilon_gamma_box(gamma=0.5)
    ```
    """
    return Composite("zbox", "gamma", "epsilon", epsilon=epsilon, gamma=gamma, stabilizer=stabilizer)


def epsilon_plus_flat(epsilon=1e-6, stabilizer=1e-6):
    """Zennit's EpsilonPlusFlat: flat first, z+ on convolutions, epsilon on dense layers.

    Args:
        epsilon: LRP-epsilon's stabiliser on dense layers. Defaults to 1e-6.
        stabilizer: the other rules' stabiliser. Defaults to 1e-6.

    Example:

    ```python
    lrp = LayerwiseRelevance(classifier, epsilon_plus_flat())
    ```
    """
    return Composite("flat", "zplus", "epsilon", epsilon=epsilon, stabilizer=stabilizer)


def stabilize(z, epsilon):
    """`z + epsilon * sign(z)`, with sign(0) = 1: never zero for epsilon > 0.

    Args:
        z: a float tensor (pre-activations).
        epsilon: the stabiliser's size (non-negative).

    Example:

    ```python
    stabilize(keras.ops.convert_to_tensor([-1.0, 0.0, 2.0]), 0.5)  # [-1.5, 0.5, 2.5]
    ```
    """
    return z + epsilon * ops.where(z >= 0, 1.0, -1.0)


def _positive(t):
    return ops.maximum(t, 0.0)


def _negative(t):
    return ops.minimum(t, 0.0)


def linear_rule(rule, linear, x, kernel, bias, relevance, composite, bounds=None):
    """Relevance of the input `x` of a linear layer `z = linear(x, kernel) + bias` under
    `rule` (one of `LINEAR_RULES`), given the relevance of `z`. `bounds`: `(low, high)` for
    "zbox", broadcastable to `x`.

    Each rule is a list of terms `(input, kernel, bias, sign, group)`; the outputs of a group's
    terms are added into its denominator, each group only shares the relevance of the outputs
    its mask selects, and the input relevance is `sum input * d(sum_terms z * s) / d input`.

    Args:
        rule: the rule's name, one of `LINEAR_RULES`.
        linear: the layer's linear map `linear(x, kernel)` (e.g. a convolution or a matmul).
        x: the layer's input.
        kernel: the layer's kernel (float32, batch norm folded in).
        bias: the layer's bias (float32, batch norm folded in).
        relevance: relevance of the layer's output `z`, shaped like `z`.
        composite: the `Composite` holding the rules' parameters.
        bounds: `(low, high)` input bounds for "zbox", broadcastable to `x`; else `None`.

    Example:

    ```python
    r_x = linear_rule("epsilon", keras.ops.matmul, x, kernel, bias, r_z, epsilon_gamma_box())
    ```
    """
    zero = ops.zeros_like(bias)
    ones = ops.ones_like(relevance)
    if rule == "epsilon":
        inputs, terms, masks, eps = [x], [(0, kernel, bias, 1.0, 0)], None, composite.epsilon
    elif rule == "zplus":
        inputs = [_positive(x), _negative(x)]
        terms = [(0, _positive(kernel), _positive(bias), 1.0, 0), (1, _negative(kernel), zero, 1.0, 0)]
        masks, eps = None, composite.stabilizer
    elif rule == "gamma":
        g = composite.gamma
        up, down = kernel + g * _positive(kernel), kernel + g * _negative(kernel)
        inputs = [_positive(x), _negative(x)]
        terms = [
            (0, up, bias + g * _positive(bias), 1.0, 0), (1, down, zero, 1.0, 0),
            (0, down, bias + g * _negative(bias), 1.0, 1), (1, up, zero, 1.0, 1),
        ]
        z = linear(x, kernel) + bias
        masks, eps = [ops.cast(z > 0, z.dtype), ops.cast(z < 0, z.dtype)], composite.stabilizer
    elif rule == "zbox":
        if bounds is None:
            raise ValueError("Expected pixel bounds for the zbox rule. Received: none")
        low, high = (ops.broadcast_to(ops.cast(b, x.dtype), ops.shape(x)) for b in bounds)
        inputs = [x, low, high]
        terms = [
            (0, kernel, bias, 1.0, 0),
            (1, _positive(kernel), _positive(bias), -1.0, 0),
            (2, _negative(kernel), _negative(bias), -1.0, 0),
        ]
        masks, eps = None, composite.stabilizer
    elif rule == "flat":
        inputs, terms = [ops.ones_like(x)], [(0, ops.ones_like(kernel), zero, 1.0, 0)]
        masks, eps = None, composite.stabilizer
    else:
        raise ValueError(f"Expected a rule in {LINEAR_RULES}. Received: {rule!r}")
    groups = 1 + max(t[4] for t in terms)

    def outputs(*inputs):
        return [sign * (linear(inputs[i], w) + b) for i, w, b, sign, _ in terms]

    denominators = [sum(z for z, t in zip(outputs(*inputs), terms) if t[4] == k) for k in range(groups)]
    shares = [  # constants of the gradient below
        (ones if masks is None else masks[k]) * relevance / stabilize(d, eps) for k, d in enumerate(denominators)
    ]
    gradients = vector_jacobian(
        lambda *inputs: sum(ops.sum(z * shares[t[4]]) for z, t in zip(outputs(*inputs), terms)), inputs, 1.0
    )
    return sum(value * gradient for value, gradient in zip(inputs, gradients))


def _activation_name(function):
    return getattr(function, "__name__", type(function).__name__)


@dataclasses.dataclass
class _Step:
    """One call of a layer: `kind` in linear / pass / route / norm / softmax."""

    kind: str
    layer: object
    node: object
    inputs: list  # keys of the input tensors
    output: object  # key of the output tensor
    batch_norm: object = None  # a BatchNormalization folded into this linear step
    first: bool = False
    rule: str = None
    bounds: tuple = None

    def fill(self, values):
        """`(args, kwargs)` of the original call with `values` (one per input) filled in."""
        tensors = {id(t): v for t, v in zip(self.node.input_tensors, values)}
        return self.node.arguments.fill_in(tensors)

    def call(self, values):
        args, kwargs = self.fill(values)
        if getattr(self.layer, "_call_has_training_arg", False):
            kwargs = {**kwargs, "training": False}
        return ops.cast(self.layer(*args, **kwargs), "float32")


def _unsupported(layer, what=""):
    return ValueError(
        f"Expected layers that LRP supports ({', '.join(SUPPORTED_LAYERS)}){what}. Received: layer "
        f"{layer.name!r} of class {type(layer).__name__}"
    )


def _graph_model(model):
    """The functional graph of `model` (a Sequential's own functional model)."""
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ValueError(
                f"Expected a built Sequential model (with a known input shape). Received: {model.name!r}"
            )
        return functional
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            "Expected a functional or Sequential Keras model for LRP. Received: "
            f"{model.name!r} of class {type(model).__name__} (a subclassed model has no graph to walk)"
        )
    return model


def _flatten(model, prefix, alias, steps):
    """Appends the steps of `model`'s graph in topological order (nested models inlined)."""
    graph = _graph_model(model)

    def key(tensor):
        return alias.get(id(tensor), (prefix, id(tensor)))

    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if layer is None or node.is_input or isinstance(layer, keras.layers.InputLayer):
                continue
            inputs = [key(t) for t in node.input_tensors]
            if len(node.outputs) != 1 and not isinstance(layer, keras.Model):
                raise _unsupported(layer, " with one output")
            if isinstance(layer, keras.Model):  # a nested model: its steps, inlined
                inner = _graph_model(layer)
                if len(inner.inputs) != len(inputs) or len(inner.outputs) != 1:
                    raise _unsupported(layer, "; nested models with one output")
                inner_prefix = (prefix, id(node))
                inner_alias = {id(t): k for t, k in zip(inner.inputs, inputs)}
                _flatten(inner, inner_prefix, inner_alias, steps)
                alias[id(node.outputs[0])] = inner_alias.get(
                    id(inner.outputs[0]), (inner_prefix, id(inner.outputs[0]))
                )
                continue
            steps.append(_Step(_kind(layer), layer, node, inputs, key(node.outputs[0])))
    return steps


def _kind(layer):
    if isinstance(layer, _LINEAR):
        if isinstance(layer, keras.layers.Conv2D) and (
            layer.data_format != "channels_last" or getattr(layer, "groups", 1) != 1
        ):
            raise _unsupported(layer, "; Conv2D with channels_last data and groups=1")
        if _activation_name(layer.activation) not in _ACTIVATIONS + ("softmax",):
            raise _unsupported(layer, f"; activations {_ACTIVATIONS}")
        return "linear"
    if isinstance(layer, keras.layers.Activation):
        name = _activation_name(layer.activation)
        if name == "softmax":
            return "softmax"
        if name not in _ACTIVATIONS:
            raise _unsupported(layer, f"; Activation in {_ACTIVATIONS}")
        return "pass"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, (keras.layers.Resizing, keras.layers.UpSampling2D)) and (
        getattr(layer, "interpolation", "nearest") not in _RESIZE_INTERPOLATIONS
        or getattr(layer, "pad_to_aspect_ratio", False)
    ):  # bicubic / lanczos weights can be negative; padding adds a constant
        raise _unsupported(layer, f"; resizing with interpolation in {_RESIZE_INTERPOLATIONS}, no padding")
    for kind, classes in (("pass", _PASS), ("route", _ROUTE), ("norm", _NORM)):
        if isinstance(layer, classes):
            return kind
    if type(layer).__name__ == "Preprocessing" and getattr(layer, "mode", None) != "caffe":
        return "pass"  # keras_saliency.models.layers.Preprocessing: an elementwise rescaling
    raise _unsupported(layer)


def _fold_batch_norms(steps, output_key):
    """Folds each BatchNormalization that is the only consumer of a linear step's (linear)
    output into that step; returns the remaining steps."""
    consumers = {}
    for step in steps:
        for k in step.inputs:
            consumers[k] = consumers.get(k, 0) + 1
    producer = {step.output: step for step in steps}
    kept = []
    for step in steps:
        source = producer.get(step.inputs[0]) if len(step.inputs) == 1 else None
        if (
            isinstance(step.layer, keras.layers.BatchNormalization)
            and source is not None
            and source.kind == "linear"
            and source.batch_norm is None
            and _activation_name(source.layer.activation) == "linear"
            and consumers.get(source.output) == 1
            and source.output != output_key
            and step.layer.axis in (-1, len(source.node.outputs[0].shape) - 1)
        ):
            source.batch_norm = step.layer
            source.output = step.output
            continue
        kept.append(step)
    return kept


def _linear_parameters(step):
    """`(linear function, kernel, bias)` of a linear step in float32, batch norm folded in."""
    layer = step.layer
    kernel = ops.cast(layer.kernel, "float32")
    bias = ops.cast(layer.bias, "float32") if layer.use_bias else ops.zeros(kernel.shape[-1:], "float32")
    bn = step.batch_norm
    if bn is not None:
        scale = ops.rsqrt(ops.cast(bn.moving_variance, "float32") + bn.epsilon)
        if bn.scale:
            scale = scale * ops.cast(bn.gamma, "float32")
        kernel = kernel * scale
        bias = (bias - ops.cast(bn.moving_mean, "float32")) * scale
        if bn.center:
            bias = bias + ops.cast(bn.beta, "float32")
    if isinstance(layer, keras.layers.Conv2D):

        def linear(x, w):
            return keras.ops.conv(
                x, w, strides=layer.strides, padding=layer.padding, data_format="channels_last",
                dilation_rate=layer.dilation_rate,
            )
    else:

        def linear(x, w):
            return keras.ops.matmul(x, w)

    return linear, kernel, bias


class LayerwiseRelevance:
    """LRP of a Keras classifier: relevance of every input value for one class.

    Args:
        classifier: a functional or Sequential Keras classifier (nested models allowed) of the
            supported layers (`SUPPORTED_LAYERS`); never modified.
        composite: a `Composite` (default: `epsilon_gamma_box()`).
        preprocess: the function that maps pixels to the classifier's input (elementwise,
            e.g. `keras_saliency.models.layers.Preprocessing`), or None; its channel flip ("caffe")
            is undone on the relevance.

    Example:

    ```python
    lrp = LayerwiseRelevance(classifier, epsilon_plus_flat())
    relevance, logits = lrp(images, class_ids)  # relevance (N, H, W, 3) sums to ~logits
    ```
    """

    def __init__(self, classifier, composite=None, preprocess=None):
        self.classifier = classifier
        self.composite = composite or epsilon_gamma_box()
        self.preprocess = preprocess
        graph = _graph_model(classifier)
        if len(graph.inputs) != 1:
            raise ValueError(f"Expected a classifier with one input. Received: {len(graph.inputs)} inputs")
        self.input_key = ((), id(graph.inputs[0]))
        alias = {}
        steps = _flatten(classifier, (), alias, [])
        output = graph.outputs[0]
        self.output_key = alias.get(id(output), ((), id(output)))
        producer = {s.output: s for s in steps}
        last = producer.get(self.output_key)
        if last is not None and last.kind == "softmax":  # explain the logits, not probabilities
            steps.remove(last)
            self.output_key = last.inputs[0]
        self.steps = _fold_batch_norms(steps, self.output_key)
        upstream = {self.input_key: False}
        for step in self.steps:
            seen = any(upstream.get(k, False) for k in step.inputs)
            if step.kind == "linear":
                if _activation_name(step.layer.activation) == "softmax" and step.output != self.output_key:
                    raise _unsupported(step.layer, "; a softmax only as the last layer")
                step.first = not seen
                conv = isinstance(step.layer, keras.layers.Conv2D)
                c = self.composite
                step.rule = c.first if step.first else (c.convolution if conv else c.dense)
            elif step.kind == "softmax":
                raise _unsupported(step.layer, "; a softmax only as the last layer")
            upstream[step.output] = seen or step.kind == "linear"
        if any(s.rule == "zbox" for s in self.steps):
            self._set_bounds()
        self._fn = compiled(self._relevance)

    def _pixels(self, images):
        x = ops.cast(images, "float32")
        return ops.cast(self.preprocess(x), "float32") if self.preprocess is not None else x

    def _forward(self, x):
        """Values of every tensor (and each linear step's pre-activation) for input `x`."""
        values = {self.input_key: x}
        for step in self.steps:
            inputs = [values[k] for k in step.inputs]
            if step.kind == "linear":
                linear, kernel, bias = _linear_parameters(step)
                z = linear(inputs[0], kernel) + bias
                softmax = _activation_name(step.layer.activation) == "softmax"
                if step.batch_norm is not None or (softmax and step.output == self.output_key):
                    values[step.output] = z  # linear activation (folded), or the logits
                else:
                    values[step.output] = ops.cast(step.layer.activation(z), "float32")
            else:
                values[step.output] = step.call(inputs)
        return values

    def _set_bounds(self):
        """z^B bounds of each first layer: the pixel range through everything before it."""
        size = self.classifier.input_shape[1:]
        low, high = self.composite.pixel_range
        pixels = ops.stack([ops.full(size, float(low)), ops.full(size, float(high))])
        values = self._forward(self._pixels(pixels))
        for step in self.steps:
            if step.rule == "zbox":
                x = values[step.inputs[0]]
                step.bounds = (ops.min(x, 0, keepdims=True), ops.max(x, 0, keepdims=True))

    def _backward(self, values, relevance):
        relevances = {self.output_key: relevance}
        stab = self.composite.stabilizer
        for step in reversed(self.steps):
            if step.output not in relevances:
                continue  # does not lead to the explained logit
            r = relevances.pop(step.output)
            inputs = [values[k] for k in step.inputs]
            if step.kind == "linear":
                linear, kernel, bias = _linear_parameters(step)
                out = [linear_rule(step.rule, linear, inputs[0], kernel, bias, r, self.composite, step.bounds)]
            elif step.kind == "pass":
                out = [r]
            else:
                z = step.call(inputs)
                upstream = r / stabilize(z, stab) if step.kind == "norm" else r
                grads = vector_jacobian(lambda *xs, step=step: step.call(list(xs)), inputs, upstream)
                out = [x * g for x, g in zip(inputs, grads)] if step.kind == "norm" else grads
            for k, value in zip(step.inputs, out):
                relevances[k] = relevances[k] + value if k in relevances else value
        return relevances.get(self.input_key, ops.zeros_like(values[self.input_key]))

    def _relevance(self, images, class_ids):
        values = self._forward(self._pixels(images))
        logits = values[self.output_key]
        if len(logits.shape) != 2:
            raise ValueError(f"Expected class logits of shape (N, classes). Received: shape {logits.shape}")
        one_hot = ops.one_hot(ops.cast(class_ids, "int32"), logits.shape[-1])
        relevance = self._backward(values, one_hot * logits)
        if self.preprocess is not None and getattr(self.preprocess, "mode", None) == "caffe":
            relevance = ops.flip(relevance, axis=-1)  # the caffe preprocessing's RGB -> BGR flip
        return relevance, ops.sum(one_hot * logits, axis=-1)

    def __call__(self, images, class_ids):
        """`(relevance (N, H, W, C) of the classifier's input pixels, the explained logits (N,))`."""
        return self._fn(ops.convert_to_tensor(np.asarray(images, np.float32)), ops.convert_to_tensor(np.asarray(class_ids, np.int32)))


class LRP(SaliencyMethod):
    """LRP maps: the relevance of each pixel for the class (`LayerwiseRelevance`) summed over
    the colour channels; negative relevance is clipped to 0 and each map divided by its
    maximum (`normalize_maps`). `relevance(images, class_ids)` gives the signed relevance.

    Args:
        model: a `SaliencyModel` (its classifier is explained) or a Keras classifier.
        composite: a `Composite`.
        batch_size: images per propagation.

    Example:

    ```python
    method = LRP(model, epsilon_plus_flat())
    relevance, logits = method.relevance(images, class_ids)
    ```
    """

    name = "lrp"

    def __init__(self, model, composite=None, batch_size=16, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        self.lrp = LayerwiseRelevance(self.classifier.classifier, composite, self.classifier.preprocess)
        self.composite = self.lrp.composite

    def relevance(self, images, class_ids):
        """Signed relevance `(N, H, W, 3)` of the [0, 255] pixels, and the explained logits `(N,)`."""
        relevance, logits = self.lrp(images, class_ids)
        return ops.convert_to_numpy(relevance), ops.convert_to_numpy(logits)

    def signed_maps(self, images, class_ids):
        """Relevance summed over the colour channels, signed, unnormalised: `(N, H, W)`."""
        out = []
        for start in range(0, len(images), self.batch_size):
            relevance, _ = self.lrp(images[start : start + self.batch_size], class_ids[start : start + self.batch_size])
            out.append(ops.convert_to_numpy(ops.sum(relevance, axis=-1)))
        return np.concatenate(out, axis=0)

    def explain_batch(self, images, class_ids):
        return ops.sum(self.lrp(images, class_ids)[0], axis=-1)


class LRPEpsilonGammaBox(LRP):
    """LRP with Zennit's EpsilonGammaBox composite: z^B on the layers that see the pixels (bounds:
    pixels [0, 255] through the model's preprocessing), LRP-gamma (`gamma`, default 0.25) on the
    other Conv2D layers, LRP-epsilon (`epsilon`, default 1e-6) on Dense layers, stabiliser
    `stabilizer` (default 1e-6) elsewhere; batch norm folded into the preceding layer.

    Args:
        model: a `SaliencyModel` (its classifier is explained) or a Keras classifier.
        epsilon: LRP-epsilon's stabiliser on Dense layers. Defaults to 1e-6.
        gamma: LRP-gamma's weight of the positive (negative) parts. Defaults to 0.25.
        stabilizer: the other rules' stabiliser. Defaults to 1e-6.
        batch_size: images per propagation. Defaults to 16.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    method = LRPEpsilonGammaBox(keras_saliency.pretrained.load("cifar10"))
    maps = method(images, class_ids)  # (N, H, W) in [0, 1]
    ```
    """

    name = "lrp_epsilon_gamma_box"

    def __init__(self, model, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, batch_size=16, **kwargs):
        super().__init__(model, epsilon_gamma_box(epsilon, gamma, stabilizer), batch_size, **kwargs)


class LRPEpsilonPlusFlat(LRP):
    """LRP with Zennit's EpsilonPlusFlat composite: the flat rule on the layers that see the
    pixels, z+ (alpha 1, beta 0) on the other Conv2D layers, LRP-epsilon (`epsilon`, default
    1e-6) on Dense layers, stabiliser `stabilizer` (default 1e-6) elsewhere; batch norm folded
    into the preceding layer.

    Args:
        model: a `SaliencyModel` (its classifier is explained) or a Keras classifier.
        epsilon: LRP-epsilon's stabiliser on Dense layers. Defaults to 1e-6.
        stabilizer: the other rules' stabiliser. Defaults to 1e-6.
        batch_size: images per propagation. Defaults to 16.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    method = LRPEpsilonPlusFlat(keras_saliency.pretrained.load("cifar10"))
    maps = method(images, class_ids)  # (N, H, W) in [0, 1]
    ```
    """

    name = "lrp_epsilon_plus_flat"

    def __init__(self, model, epsilon=1e-6, stabilizer=1e-6, batch_size=16, **kwargs):
        super().__init__(model, epsilon_plus_flat(epsilon, stabilizer), batch_size, **kwargs)
