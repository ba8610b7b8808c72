"""`tf.distribute` strategies by name, for `keras-saliency train --strategy`."""

STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")


def make_strategy(name="default", tpu=None):
    """The strategy `name`: "default" (one device), "mirrored" (every GPU of this machine, or the
    CPU), "multi-worker" (`MultiWorkerMirroredStrategy`, cluster from the TF_CONFIG environment
    variable; `fix_keras_multi_worker` is applied) or "tpu" (`tpu`: the TPU's name or address;
    Colab / Cloud TPU VMs find it alone).

    Args:
        name: one of `STRATEGIES`: "default", "mirrored", "multi-worker" or "tpu".
        tpu: the TPU's name or address for "tpu" (default None: found alone).

    Example:

    ```python
    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = SaliencyModel.from_classifier(classifier)
    ```
    """
    import tensorflow as tf

    from keras_saliency.options import require_tensorflow_backend

    if name not in STRATEGIES:
        raise ValueError(f"Expected a strategy in {STRATEGIES}. Received: {name!r}")
    if name != "default":
        require_tensorflow_backend(f"the tf.distribute strategy {name!r}")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        fix_keras_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def fix_keras_multi_worker():
    """Lets Keras 3's TensorFlow `fit` / `evaluate` run under `MultiWorkerMirroredStrategy` with
    two or more workers, which they cannot do unaided (keras-team/keras#20585,
    tensorflow/tensorflow#72388). Two steps of Keras' TensorFlow trainer fail there:

    - the build before the first step `strategy.reduce`s the whole first batch as one nest, which
      the collective strategy refuses ("Attempt to convert a value (PerReplica...) to a
      Tensor"): the build needs only shapes and dtypes, so it gets this worker's own batch;
    - each step's logs (scalars) are averaged over the workers with `reduce("MEAN", axis=0)`,
      which has no axis 0 ("Invalid reduction dimension 0 for input with 0 dimensions"):
      scalars are averaged with `axis=None`.

    And the model's `BatchNormalization` layers synchronize their batch statistics over the
    workers (`synchronized=True`, kept in the saved model; it changes nothing on one device):
    Keras 3 updates their moving statistics from each worker's own batches, so without it the
    workers end with different models (the trainable weights agree, the moving statistics do not).

    Only multi-worker runs take the changed paths; everything else calls Keras' own code.
    Idempotent; does nothing on a Keras without these functions. Returns whether the fix is on.

    Example:

    ```python
    fix_keras_multi_worker()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # TF_CONFIG: the cluster
    ```
    """
    import keras
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    needed = ("TensorFlowTrainer", "reduce_per_replica", "_collective_all_reduce_multi_worker")
    if not all(hasattr(trainer, name) for name in needed):
        return False
    if getattr(trainer.reduce_per_replica, "_keras_saliency_fix", False):
        return True
    multi_worker = trainer._collective_all_reduce_multi_worker
    keras_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    keras_reduce = trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not multi_worker(strategy):
            return keras_build(self, iterator=iterator, data_batch=data_batch)
        local = [layer for layer in self._flatten_layers(include_self=False)
                 if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized]
        for layer in local:
            layer.synchronized = True
        if local:  # traced with local statistics: trace again
            self.train_function = self.test_function = self.predict_function = None
        if iterator is None:
            return keras_build(self, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = tree.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v,
                next(batches))
            break
        return keras_build(self, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return keras_reduce(values, strategy, reduction)

        def _reduce(value):
            if getattr(value, "shape", None) is not None and value.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return keras_reduce(value, strategy, reduction)

        return tree.map_structure(_reduce, values)

    reduce_per_replica._keras_saliency_fix = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    return True
