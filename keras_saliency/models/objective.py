"""The masking objective as pure tensor functions.

Every function takes tensors and hyper-parameters and returns tensors; nothing here holds
state. `saliency_objective` combines the terms as configured by a `SaliencyConfig`.
Masks are `(batch, height, width, 1)` or `(batch, height, width)` with values in [0, 1];
logits are `(batch, num_classes)`; labels are integer class ids `(batch,)`.
"""

from keras import ops

_EPSILON = 1e-6


def _as_4d(masks):
    masks = ops.convert_to_tensor(masks)
    if len(masks.shape) == 3:
        masks = ops.expand_dims(masks, -1)
    if len(masks.shape) != 4:
        raise ValueError(
            f"Expected masks of shape (batch, height, width[, 1]). Received: shape={masks.shape}"
        )
    return ops.cast(masks, "float32")


def area(masks, power=0.3, epsilon=0.0005):
    """Mean of `(mask + epsilon) ** power` per image: the area term (AV).

    Args:
        masks: masks in [0, 1] of shape (batch, H, W[, 1]).
        power: power applied to each mask value. Defaults to 0.3.
        epsilon: added before the power (keeps the gradient finite at 0). Defaults to 0.0005.

    Example:

    ```python
    area(ops.ones((2, 16, 16, 1)))  # about [1.0, 1.0]
    ```
    """
    masks = _as_4d(masks)
    return ops.mean(ops.power(masks + epsilon, power), axis=(1, 2, 3))


def total_variation(masks, power=2.0, border_penalty=0.3):
    """Smoothness per image: sum of |dm/dx|^p + |dm/dy|^p plus `border_penalty` times the sum
    of squared values on the image border (discourages masks that lean on the edge).

    Divided by 2 here, so the batch mean equals the authors' "sum / (2 * batch)".

    Args:
        masks: masks in [0, 1] of shape (batch, H, W[, 1]).
        power: power p of the absolute differences. Defaults to 2.0.
        border_penalty: weight of the squared border values (0: none). Defaults to 0.3.

    Example:

    ```python
    smoothness = total_variation(masks, power=2.0, border_penalty=0.0)  # (batch,)
    ```
    """
    masks = _as_4d(masks)
    dx = masks[:, :, 1:, :] - masks[:, :, :-1, :]
    dy = masks[:, 1:, :, :] - masks[:, :-1, :, :]
    if power == 2:
        tv = ops.sum(ops.square(dx), axis=(1, 2, 3)) + ops.sum(ops.square(dy), axis=(1, 2, 3))
    else:
        tv = ops.sum(ops.power(ops.abs(dx) + _EPSILON, power), axis=(1, 2, 3)) + ops.sum(
            ops.power(ops.abs(dy) + _EPSILON, power), axis=(1, 2, 3)
        )
    if border_penalty:
        border = (
            ops.sum(ops.square(masks[:, 0, :, :]), axis=(1, 2))
            + ops.sum(ops.square(masks[:, -1, :, :]), axis=(1, 2))
            + ops.sum(ops.square(masks[:, 1:-1, 0, :]), axis=(1, 2))
            + ops.sum(ops.square(masks[:, 1:-1, -1, :]), axis=(1, 2))
        )
        tv = tv + border_penalty * border
    return tv / 2.0


def _true_and_best_other(logits, labels):
    logits = ops.cast(logits, "float32")
    num_classes = logits.shape[-1]
    one_hot = ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
    true_logit = ops.sum(logits * one_hot, axis=-1)
    # Push the true class far below every other one before taking the max.
    best_other = ops.max(logits - one_hot * 1e9, axis=-1)
    return true_logit, best_other


def preserver_margin(logits, labels, confidence=1.0):
    """`relu(max_{j!=c} z_j - z_c + confidence)`: zero once class c wins by `confidence`.

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).
        confidence: the margin in logits. Defaults to 1.0.

    Example:

    ```python
    preserver_margin(ops.array([[3.0, 0.0]]), ops.array([0]))  # [0.0]
    ```
    """
    true_logit, best_other = _true_and_best_other(logits, labels)
    return ops.relu(best_other - true_logit + confidence)


def destroyer_margin(logits, labels, confidence=5.0):
    """`relu(z_c - max_{j!=c} z_j + confidence)`: zero once class c loses by `confidence`.

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).
        confidence: the margin in logits. Defaults to 5.0.

    Example:

    ```python
    destroyer_margin(ops.array([[3.0, 0.0]]), ops.array([0]))  # [8.0]
    ```
    """
    true_logit, best_other = _true_and_best_other(logits, labels)
    return ops.relu(true_logit - best_other + confidence)


def log_probability(logits, labels):
    """`log softmax(logits)[label]`, computed stably from logits.

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).

    Example:

    ```python
    log_probability(ops.array([[0.0, 0.0]]), ops.array([1]))  # [-0.6931]
    ```
    """
    logits = ops.cast(logits, "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    one_hot = ops.one_hot(ops.cast(labels, "int32"), logits.shape[-1], dtype="float32")
    return ops.sum(log_probs * one_hot, axis=-1)


def preserver_log_probability(logits, labels):
    """Paper's preserver: `-log f_c(preserved)`.

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).

    Example:

    ```python
    preserver = preserver_log_probability(preserved_logits, labels)  # (batch,)
    ```
    """
    return -log_probability(logits, labels)


def destroyer_probability_power(logits, labels, power=0.3):
    """Paper's destroyer: `f_c(destroyed) ** power` (epsilon inside the power keeps its
    gradient finite at probability 0).

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).
        power: power of the probability. Defaults to 0.3.

    Example:

    ```python
    destroyer = destroyer_probability_power(destroyed_logits, labels, power=0.3)
    ```
    """
    probability = ops.exp(log_probability(logits, labels))
    return ops.power(probability + _EPSILON, power)


def cross_entropy(logits, labels):
    """`-log softmax(logits)[label]`: the simplified objective's preserver.

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).

    Example:

    ```python
    cross_entropy(ops.array([[0.0, 0.0]]), ops.array([1]))  # [0.6931]
    ```
    """
    return -log_probability(logits, labels)


def negative_entropy(logits):
    """`sum_j p_j log p_j` of `softmax(logits)`: minimised, the prediction is maximally
    uncertain (the simplified objective's destroyer). In [-log(num_classes), 0].

    Args:
        logits: class logits of shape (batch, num_classes).

    Example:

    ```python
    negative_entropy(ops.zeros((1, 10)))  # [-log(10)] = [-2.3026]
    ```
    """
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return ops.sum(ops.exp(log_probs) * log_probs, axis=-1)


def is_correct(logits, labels):
    """1.0 where the arg-max of `logits` is the label, else 0.0 (no gradient).

    Args:
        logits: class logits of shape (batch, num_classes).
        labels: integer class ids of shape (batch,).

    Example:

    ```python
    is_correct(ops.array([[2.0, 1.0], [0.0, 1.0]]), ops.array([0, 0]))  # [1.0, 0.0]
    ```
    """
    predicted = ops.argmax(ops.cast(logits, "float32"), axis=-1)
    return ops.cast(ops.equal(ops.cast(predicted, "int32"), ops.cast(labels, "int32")), "float32")


def classification_terms(
    preserved_logits,
    destroyed_logits,
    labels,
    is_real,
    form="code",
    preserver_confidence=1.0,
    destroyer_confidence=5.0,
    fake_confidence=1.0,
    destroyer_power=0.3,
):
    """Per-image preserver and destroyer terms, with the fake-label role swap.

    The terms are always computed for the TRUE label. Where the selector was given the true
    class (`is_real` 1) the preserved image must be classified as it and the destroyed one
    must not. Where the selector was given a wrong class (`is_real` 0) the roles swap: the
    preserved image must NOT be classified as the true label and the destroyed one still must
    (both with `fake_confidence` in the code form).

    Args:
        preserved_logits: classifier logits of the preserved images (batch, num_classes).
        destroyed_logits: classifier logits of the destroyed images (batch, num_classes).
        labels: the true class ids (batch,).
        is_real: 1 where the selector was given the true class, 0 for a fake one (batch,).
        form: objective form, `"code"`, `"paper"` or `"simplified"`. Defaults to `"code"`.
        preserver_confidence: the code form's preserver margin. Defaults to 1.0.
        destroyer_confidence: the code form's destroyer margin. Defaults to 5.0.
        fake_confidence: the code form's margin for fake selectors. Defaults to 1.0.
        destroyer_power: the paper form's destroyer power. Defaults to 0.3.

    Example:

    ```python
    preserver, destroyer = classification_terms(p_logits, d_logits, labels, is_real, form="paper")
    ```
    """
    is_real = ops.cast(is_real, "float32")
    if form == "code":
        real_preserver = preserver_margin(preserved_logits, labels, preserver_confidence)
        real_destroyer = destroyer_margin(destroyed_logits, labels, destroyer_confidence)
        fake_preserver = destroyer_margin(preserved_logits, labels, fake_confidence)
        fake_destroyer = preserver_margin(destroyed_logits, labels, fake_confidence)
    elif form == "paper":
        real_preserver = preserver_log_probability(preserved_logits, labels)
        real_destroyer = destroyer_probability_power(destroyed_logits, labels, destroyer_power)
        fake_preserver = destroyer_probability_power(preserved_logits, labels, destroyer_power)
        fake_destroyer = preserver_log_probability(destroyed_logits, labels)
    elif form == "simplified":
        # Phang et al. 2020; for a fake selector the mask must be empty: the destroyed image is
        # then the whole image and must still be classified as the true label.
        real_preserver = cross_entropy(preserved_logits, labels)
        real_destroyer = negative_entropy(destroyed_logits)
        fake_preserver = ops.zeros_like(real_preserver)
        fake_destroyer = cross_entropy(destroyed_logits, labels)
    else:
        raise ValueError(
            f"Expected form in ('code', 'paper', 'simplified'). Received: form={form!r}"
        )
    preserver = is_real * real_preserver + (1.0 - is_real) * fake_preserver
    destroyer = is_real * real_destroyer + (1.0 - is_real) * fake_destroyer
    return preserver, destroyer


def exists_cross_entropy(exists_logits, is_real):
    """Binary cross-entropy of the "exists" logit against real (1) / fake (0) selectors.

    Args:
        exists_logits: the "exists" head's logits, (batch,) or (batch, 1).
        is_real: 1 for a real selector, 0 for a fake one (batch,).

    Example:

    ```python
    exists_cross_entropy(ops.array([0.0]), ops.array([1.0]))  # [log(2)] = [0.6931]
    ```
    """
    exists_logits = ops.reshape(ops.cast(exists_logits, "float32"), (-1,))
    is_real = ops.cast(is_real, "float32")
    # Stable form of BCE with logits: max(x, 0) - x * y + log(1 + exp(-|x|)).
    return (
        ops.relu(exists_logits)
        - exists_logits * is_real
        + ops.log1p(ops.exp(-ops.abs(exists_logits)))
    )


def soft_top_fraction(masks, fractions, temperature=0.5, epsilon=1e-4):
    """A soft indicator of each mask's most salient `fractions` of pixels (the ranking only).

    Pixel values are compared in log space to each image's `1 - fraction` quantile (found without
    gradient): `sigmoid((log(m + epsilon) - log(q + epsilon)) / temperature)`. A faint mask and a
    bright one with the same ranking give the same indicator, so the term that uses it trains the
    order of the pixels, not their values.

    Args:
        masks: masks in [0, 1] of shape (batch, H, W[, 1]).
        fractions: the fraction of pixels to select per image, (batch,) in (0, 1).
        temperature: softness in log-mask units (smaller: closer to a hard top-k). Defaults to 0.5.
        epsilon: added before the log (keeps the gradient bounded). Defaults to 1e-4.

    Example:

    ```python
    top = soft_top_fraction(masks, ops.full((batch,), 0.25))  # about 1 on each mask's top 25%
    ```
    """
    masks = _as_4d(masks)
    batch = ops.shape(masks)[0]
    log_masks = ops.log(masks + epsilon)
    count = int(masks.shape[1]) * int(masks.shape[2])
    flat = ops.reshape(ops.stop_gradient(log_masks), (batch, count))
    ordered = ops.flip(ops.sort(flat, axis=-1), axis=-1)  # descending
    index = ops.clip(ops.cast(ops.cast(fractions, "float32") * count, "int32"), 1, count - 1)
    index = ops.expand_dims(index, -1)
    # Half-way between the k-th and the (k+1)-th value: k pixels above it.
    threshold = 0.5 * (
        ops.take_along_axis(ordered, index - 1, axis=-1) + ops.take_along_axis(ordered, index, axis=-1)
    )
    threshold = ops.reshape(threshold, (-1, 1, 1, 1))
    return ops.sigmoid((log_masks - threshold) / temperature)


def graded_ranking(logits, labels, keep, is_real, form="simplified"):
    """The ranking term: per image, the classifier's score after KEEPING only a mask's top
    fraction (`keep` 1: the class must still be recognised) or after REMOVING it (`keep` 0: the
    class must be gone), with the form's preserver / destroyer. Zero for fake selectors, whose
    masks have nothing to rank.

    Args:
        logits: classifier logits of the kept / removed images (batch, num_classes).
        labels: the true class ids (batch,).
        keep: 1 where the top fraction was kept, 0 where it was removed (batch,).
        is_real: 1 where the selector was given the true class, 0 for a fake one (batch,).
        form: objective form, as in `classification_terms`. Defaults to `"simplified"`.

    Example:

    ```python
    term = graded_ranking(graded_logits, labels, keep, is_real)  # (batch,)
    ```
    """
    ones = ops.ones_like(ops.cast(labels, "float32"))
    kept, removed = classification_terms(logits, logits, labels, ones, form=form)
    keep = ops.cast(keep, "float32")
    return ops.cast(is_real, "float32") * (keep * kept + (1.0 - keep) * removed)


def saliency_objective(
    masks,
    preserved_logits,
    destroyed_logits,
    labels,
    is_real,
    exists_logits=None,
    config=None,
    graded=None,
):
    """The full objective. Returns a dict of batch means: `loss` and every term.

    Code form: `destroyer + area_weight * area + smoothness_weight * smoothness
    + preserver_weight * preserver` (+ `exists_weight * exists`).
    Paper form: the same weights applied to the paper's terms
    (`l1 = smoothness_weight`, `l2 = area_weight`, `l3 = destroyer_weight`).
    Simplified form: `destroyer_weight * negative entropy(destroyed) + preserver_weight *
    cross-entropy(preserved) + area_weight * gated mean mask + smoothness_weight * smoothness`.
    Every form adds `fake_area_weight` times the mean mask of fake selectors, and with `graded`,
    `graded_weight` times the ranking term (`graded_ranking`).

    Args:
        masks: masks in [0, 1] of shape (batch, h, w[, 1]) (any resolution).
        preserved_logits: classifier logits of the preserved images (batch, num_classes).
        destroyed_logits: classifier logits of the destroyed images (batch, num_classes).
        labels: the true class ids (batch,).
        is_real: 1 where the selector was given the true class, 0 for a fake one (batch,).
        exists_logits: the "exists" head's logits, or `None` to leave that term out.
        config: a `SaliencyConfig`, a dict of its fields or `None` (defaults).
        graded: `(logits, keep)` of the images whose masks' top fractions were kept / removed
            (see `soft_top_fraction`), or `None`: the `graded` term is 0.

    Example:

    ```python
    terms = saliency_objective(masks, p_logits, d_logits, labels, is_real, config=config)
    loss = terms["loss"]
    ```
    """
    from keras_saliency.models.config import as_config

    config = as_config(config)
    is_real_float = ops.cast(is_real, "float32")
    mean_mask = ops.mean(_as_4d(masks), axis=(1, 2, 3))
    if config.objective == "simplified":
        # L1 area, only where the selector is real and the preserved image is still classified
        # correctly (Phang et al. 2020's gate).
        gate = is_real_float * is_correct(preserved_logits, labels)
        area_term = ops.mean(gate * mean_mask)
    else:
        area_term = ops.mean(area(masks, config.area_power, config.area_epsilon))
    fake_area_term = ops.mean((1.0 - is_real_float) * mean_mask)
    smoothness_term = ops.mean(total_variation(masks, 2.0, config.border_penalty))
    preserver, destroyer = classification_terms(
        preserved_logits,
        destroyed_logits,
        labels,
        is_real,
        form=config.objective,
        preserver_confidence=config.preserver_confidence,
        destroyer_confidence=config.destroyer_confidence,
        fake_confidence=config.fake_confidence,
        destroyer_power=config.destroyer_power,
    )
    preserver_term = ops.mean(preserver)
    destroyer_term = ops.mean(destroyer)
    loss = (
        config.destroyer_weight * destroyer_term
        + config.area_weight * area_term
        + config.smoothness_weight * smoothness_term
        + config.preserver_weight * preserver_term
        + config.fake_area_weight * fake_area_term
    )
    terms = {
        "area": area_term,
        "fake_area": fake_area_term,
        "smoothness": smoothness_term,
        "preserver": preserver_term,
        "destroyer": destroyer_term,
    }
    if graded is not None:
        graded_logits, keep = graded
        graded_term = ops.mean(graded_ranking(graded_logits, labels, keep, is_real, config.objective))
        loss = loss + config.graded_weight * graded_term
    else:
        graded_term = ops.zeros_like(loss)
    terms["graded"] = graded_term
    if exists_logits is not None:
        exists_term = ops.mean(exists_cross_entropy(exists_logits, is_real))
        loss = loss + config.exists_weight * exists_term
        terms["exists"] = exists_term
    terms["loss"] = loss
    return terms
