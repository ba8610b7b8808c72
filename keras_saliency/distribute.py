"""`tf.distribute` strategies by name, for `keras-saliency train --strategy`."""

STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")


def make_strategy(name="default", tpu=None):
    """The strategy `name`: "default" (one device), "mirrored" (every GPU of this machine, or the
    CPU), "multi-worker" (`MultiWorkerMirroredStrategy`, cluster from the TF_CONFIG environment
    variable) or "tpu" (`tpu`: the TPU's name or address; Colab / Cloud TPU VMs find it alone)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"Expected a strategy in {STRATEGIES}. Received: {name!r}")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()
