"""Multi-worker training that has actually run: two local worker processes (TF_CONFIG on
127.0.0.1 ports) train a tiny masker with `MultiWorkerMirroredStrategy`
(`make_strategy("multi-worker")`, what `keras-saliency train --strategy multi-worker` uses) through
`train.fit_saliency_model`. Both finish the same steps with identical masker weights, and a run
killed after its first epoch resumes from its resume backup and finishes. Loopback only; every
process has a timeout."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

EPOCHS, STEPS_PER_EPOCH = 2, 3
TIMEOUT_S = 240  # per run of the two workers (about 30-60 s on 2 idle CPU cores)
KILLED = 17  # exit status of a worker stopped by the script

WORKER = """
import json, os, sys
output, stop_at = sys.argv[1], int(sys.argv[2])
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
import pytest

from keras_saliency.models.model import SaliencyModel
from keras_saliency.training import fit as training
from keras_saliency.training.distribute import make_strategy
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier

training.set_seed(0)
strategy = make_strategy("multi-worker")
images, labels, _ = patch_images(48, image_size=32, seed=0)
data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(8)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
data = data.with_options(options)
with strategy.scope():
    model = SaliencyModel.from_classifier(tiny_classifier(4, 32, width=8), tap_layers=TINY_TAPS,
                                          decoder_filters=(16, 8), seed=0)
    training.compile_saliency_model(model, 1e-3)

seen = {"steps": 0, "epochs": []}

class Record(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == stop_at:  # after the previous epoch's resume backup: a kill at this point
            os._exit(%(killed)d)
        seen["epochs"].append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        seen["steps"] += 1

training.fit_saliency_model(model, data, epochs=%(epochs)d, output_dir=output,
                            steps_per_epoch=%(steps)d, callbacks=[Record()], verbose=0)
np.savez(os.path.join(output, "masker_weights.npz"), *model.masker.get_weights())
seen["iterations"] = int(model.optimizer.iterations.numpy())
with open(os.path.join(output, "worker.json"), "w") as f:
    json.dump({**seen, "replicas": strategy.num_replicas_in_sync}, f)
""" % {"killed": KILLED, "epochs": EPOCHS, "steps": STEPS_PER_EPOCH}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(folders, stop_at=-1):
    """Starts one worker process per folder (task i writes into folders[i]) on fresh loopback
    ports; returns their exit statuses and outputs. Kills both on a timeout."""
    ports = _free_ports(len(folders))
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index, folder in enumerate(folders):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(folder), str(stop_at)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT_S)[0])
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        raise AssertionError(f"Expected the workers to finish within {TIMEOUT_S} s. Received: a timeout; "
                             f"outputs: {[p.communicate()[0][-2000:] for p in processes]}") from None
    return [p.returncode for p in processes], outputs


def _results(folders):
    results = []
    for folder in folders:
        with open(folder / "worker.json") as f:
            result = json.load(f)
        with np.load(folder / "masker_weights.npz") as weights:
            result["weights"] = [weights[k] for k in sorted(weights.files, key=lambda k: int(k.split("_")[1]))]
        results.append(result)
    return results


def _same_weights(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.slow
def test_two_workers_train_in_step_and_resume_after_a_kill(tmp_path):
    folders = [tmp_path / "chief", tmp_path / "worker"]
    codes, outputs = _run_workers(folders, stop_at=1)  # killed when epoch 1 begins
    assert codes == [KILLED, KILLED], "\n".join(o[-3000:] for o in outputs)
    for folder in folders:
        assert (folder / "backup").is_dir() and (folder / "fit_state.json").exists()
        assert not (folder / "model.keras").exists()

    codes, outputs = _run_workers(folders)  # the same command again: resumes at epoch 1
    assert codes == [0, 0], "\n".join(o[-3000:] for o in outputs)
    chief, worker = _results(folders)
    for result in (chief, worker):
        assert result["replicas"] == 2
        assert result["epochs"] == [1]  # resumed: epoch 0 is not trained again
        assert result["steps"] == STEPS_PER_EPOCH
        assert result["iterations"] == EPOCHS * STEPS_PER_EPOCH  # the optimizer's steps, both runs
    assert _same_weights(chief["weights"], worker["weights"])
    for folder in folders:
        assert (folder / "model.keras").exists() and not (folder / "backup").exists()
        with open(folder / "training_log.csv") as f:
            assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1"]
