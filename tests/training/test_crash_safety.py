"""Nothing is lost on a crash: `fit_saliency_model` saves atomically, keeps its resume backup
until the final model is saved, refuses a folder another run uses, reports a corrupt backup or
a full disk in one line; and the same seed gives the same losses on a CPU."""

import csv
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import keras

from keras_saliency.training import run_files
from keras_saliency.models.model import SaliencyModel
from keras_saliency.training import fit as training
from keras_saliency.data import array_dataset
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES, LABELS, _ = patch_images(32, seed=0)


def dataset():
    return array_dataset(IMAGES, LABELS, batch_size=16, training=True, seed=0)


def fresh():
    keras.utils.set_random_seed(0)
    model = SaliencyModel.from_classifier(tiny_classifier(width=4), tap_layers=TINY_TAPS, seed=0)
    return training.compile_saliency_model(model)


def fit(model, output, epochs=1, **kwargs):
    return training.fit_saliency_model(model, dataset(), epochs=epochs, output_dir=str(output), verbose=0, **kwargs)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def log_epochs(output):
    with open(os.path.join(output, training.LOG_FILE)) as f:
        return [int(line.split(",")[0]) for line in f.read().splitlines()[1:] if line.strip()]


def leftovers(output):
    return [name for name in os.listdir(output) if run_files.TEMP_MARKER in name]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run folder holding a finished 1-epoch model (copied by each test)."""
    output = tmp_path_factory.mktemp("finished") / "run"
    fit(fresh(), output)
    return output


def copy_run(finished_run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    return str(output)


def _half_written_save(exception):
    """A `Model.save` that writes half a file where it was asked to, then fails."""

    def save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise exception

    return save


def assert_finishes_on_rerun(output, previous_epochs):
    """The next run resumes the interrupted one (nothing left to train) and saves it."""
    model_path = os.path.join(output, training.MODEL_FILE)
    model = keras.saving.load_model(model_path) if os.path.exists(model_path) else fresh()
    history = fit(model, output)
    assert history.history.get("loss", []) == []  # every epoch was done before the crash
    assert log_epochs(output) == list(range(previous_epochs + 1))
    assert not os.path.exists(os.path.join(output, training.BACKUP_DIR))
    assert not os.path.exists(os.path.join(output, training.FIT_STATE_FILE))
    assert not leftovers(output)
    keras.saving.load_model(model_path)  # a complete file


@pytest.mark.parametrize(
    "failure",
    [KeyboardInterrupt("killed while saving"), OSError(errno.EIO, "Input/output error")],
    ids=["interrupt", "io-error"],
)
@pytest.mark.slow
def test_failed_final_save_keeps_previous_model_and_backup(finished_run, tmp_path, monkeypatch, failure):
    output = copy_run(finished_run, tmp_path)
    model_path = os.path.join(output, training.MODEL_FILE)
    before = digest(model_path)
    monkeypatch.setattr(keras.Model, "save", _half_written_save(failure))
    with pytest.raises(type(failure)):
        fit(keras.saving.load_model(model_path), output)
    monkeypatch.undo()
    assert digest(model_path) == before  # the previous model, intact
    assert os.path.isdir(os.path.join(output, training.BACKUP_DIR))  # the resume backup, kept
    assert not leftovers(output)
    assert_finishes_on_rerun(output, previous_epochs=1)


@pytest.mark.slow
def test_disk_full_during_final_save_is_one_line(finished_run, tmp_path, monkeypatch):
    output = copy_run(finished_run, tmp_path)
    model_path = os.path.join(output, training.MODEL_FILE)
    before = digest(model_path)
    monkeypatch.setattr(keras.Model, "save", _half_written_save(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(run_files.RunFileWriteError) as info:
        fit(keras.saving.load_model(model_path), output)
    monkeypatch.undo()
    error = info.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    message = str(error)
    assert "\n" not in message and message.startswith("Expected to write the model ")
    assert "no space left on device" in message and "The previous model.keras is unchanged" in message
    assert digest(model_path) == before and not leftovers(output)
    assert_finishes_on_rerun(output, previous_epochs=1)


@pytest.mark.slow
def test_disk_full_during_a_backup_keeps_the_previous_backup(tmp_path, monkeypatch):
    output = str(tmp_path / "run")
    save_weights = keras.Model.save_weights
    calls = []

    def failing_second_time(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == 2:
            with open(filepath, "wb") as f:
                f.write(b"\x89HDF half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return save_weights(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", failing_second_time)
    model = fresh()  # reused for the rerun (traced once): the backup's weights are restored into it
    with pytest.raises(run_files.RunFileWriteError, match="Expected to write the resume backup .*no space left"):
        fit(model, output, epochs=3)
    monkeypatch.undo()
    backup = os.path.join(output, training.BACKUP_DIR)
    assert json.load(open(os.path.join(backup, "training_metadata.json")))["epoch"] == 1
    assert not leftovers(backup)
    history = fit(model, output, epochs=3)  # resumes after epoch 0, not from scratch
    assert len(history.history["loss"]) == 2
    assert sorted(set(log_epochs(output))) == [0, 1, 2]
    assert training.completed_epochs(output) == 3


@pytest.mark.slow
def test_disk_full_in_the_training_log_is_one_line(tmp_path, monkeypatch):
    output = str(tmp_path / "run")

    def full(self, epoch, logs=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", full)
    with pytest.raises(run_files.RunFileWriteError) as info:
        fit(fresh(), output)
    assert str(info.value).startswith(f"Expected to write the run's files in {output}. Received: no space left")
    assert "\n" not in str(info.value) and info.value.errno == errno.ENOSPC


def test_read_only_output_is_refused_before_training(tmp_path, monkeypatch):
    output = str(tmp_path / "run")
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(output):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    model = fresh()
    with pytest.raises(run_files.RunFileWriteError) as info:
        fit(model, output)
    assert str(info.value) == f"Expected a writable output folder. Received: {output} (read-only file system)."
    assert info.value.errno == errno.EROFS
    assert model.optimizer.iterations.numpy() == 0  # nothing was trained


@pytest.mark.slow
def test_corrupt_backup_names_the_folder_to_delete(tmp_path):
    output = str(tmp_path / "run")

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("killed")

    model = fresh()  # reused below: traced once
    with pytest.raises(KeyboardInterrupt):
        fit(model, output, epochs=2, callbacks=[Kill()])
    backup = os.path.join(output, training.BACKUP_DIR)
    weights = os.path.join(backup, "latest.weights.h5")
    with open(weights, "r+b") as f:  # a half-written backup
        f.truncate(os.path.getsize(weights) // 2)
    with pytest.raises(training.BrokenRunError) as info:
        fit(model, output, epochs=2)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"Expected a readable resume state in {backup}. Received: ")
    assert f"Delete the folder {backup} to start the interrupted run again" in message
    shutil.rmtree(backup)  # as told
    history = fit(model, output, epochs=2)
    assert len(history.history["loss"]) == 2 and training.completed_epochs(output) == 2


@pytest.mark.parametrize("name, content", [("training_metadata.json", "{\"epo"), ("fit_state.json", "")])
def test_corrupt_resume_state_files_are_reported(tmp_path, name, content):
    output = str(tmp_path / "run")
    os.makedirs(os.path.join(output, training.BACKUP_DIR))
    folder = output if name == "fit_state.json" else os.path.join(output, training.BACKUP_DIR)
    if name != "fit_state.json":
        with open(os.path.join(output, training.FIT_STATE_FILE), "w") as f:
            json.dump({"initial_epoch": 0, "epochs": 1}, f)
    with open(os.path.join(folder, name), "w") as f:
        f.write(content)
    with pytest.raises(training.BrokenRunError, match=r"Expected a readable resume state .* Delete the folder .*backup"):
        fit(fresh(), output)


def _lock_holder_script(folder):
    return textwrap.dedent(
        f"""
        import importlib.util, sys, time
        spec = importlib.util.spec_from_file_location("run_files", {os.path.join(REPO, "keras_saliency", "training", "run_files.py")!r})
        run_files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(run_files)
        with run_files.output_lock({folder!r}):
            print("LOCKED", flush=True)
            time.sleep(60)
        """
    )


def test_concurrent_run_on_the_same_output_is_refused(tmp_path):
    output = str(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", _lock_holder_script(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        model = fresh()
        start = time.monotonic()
        with pytest.raises(run_files.OutputInUseError) as info:
            fit(model, output)
        assert time.monotonic() - start < 5  # at once, not after training
        message = str(info.value)
        assert f"{output} is in use by process {holder.pid}" in message and "\n" not in message
        assert model.optimizer.iterations.numpy() == 0
        assert not os.path.exists(os.path.join(output, training.LOG_FILE))
    finally:
        holder.kill()
        holder.wait(10)
    # a killed holder leaves no stale lock
    with run_files.output_lock(output):
        with run_files.output_lock(output):  # re-entrant within a process
            assert run_files.lock_holder(output) == os.getpid()
    # a run that ends leaves no lock file behind, and the folder locks again at once
    assert not os.path.exists(os.path.join(output, run_files.LOCK_FILE))
    with run_files.output_lock(output):
        assert run_files.lock_holder(output) == os.getpid()
    assert not os.path.exists(os.path.join(output, run_files.LOCK_FILE))


KILLED_SAVE_SCRIPT = """
import os, sys, time
import keras
from keras_saliency.models.model import SaliencyModel
from keras_saliency.training import fit as training
from keras_saliency.data import array_dataset
from keras_saliency.testing import patch_images

output = sys.argv[1]
images, labels, _ = patch_images(32, seed=0)
data = array_dataset(images, labels, batch_size=16, training=True, seed=0)
path = os.path.join(output, training.MODEL_FILE)
save = keras.Model.save

def slow_save(self, filepath, *args, **kwargs):
    save(self, filepath, *args, **kwargs)
    with open(filepath, "r+b") as f:  # the real file, cut short: killed while still writing
        f.truncate(os.path.getsize(filepath) // 3)
    print("SAVING", flush=True)
    time.sleep(120)

keras.Model.save = slow_save
training.fit_saliency_model(keras.saving.load_model(path), data, epochs=1, output_dir=output, verbose=0)
"""


@pytest.mark.slow
def test_kill_9_during_the_final_save(finished_run, tmp_path):
    """A real process, SIGKILLed while it writes the final model of a continued run."""
    output = copy_run(finished_run, tmp_path)
    model_path = os.path.join(output, training.MODEL_FILE)
    previous = digest(model_path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE_SCRIPT, output], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=env,
    )
    deadline = time.monotonic() + 120
    line = ""
    try:
        for line in child.stdout:
            if line.startswith("SAVING") or time.monotonic() > deadline:
                break
        assert line.startswith("SAVING"), "the child never reached the final save"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert digest(model_path) == previous  # the finished 1-epoch model, intact
    assert os.path.isdir(os.path.join(output, training.BACKUP_DIR))
    assert leftovers(output)  # the half-written temporary file ...
    assert_finishes_on_rerun(output, previous_epochs=1)  # ... is cleaned up by the next run


def test_atomic_writes_keep_the_previous_file(tmp_path, monkeypatch):
    path = str(tmp_path / "run_config.json")
    run_files.atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):  # not serialisable: nothing is written
        run_files.atomic_write_json(path, {"a": object()})
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    with pytest.raises(run_files.RunFileWriteError, match=r"run_config.json\. Received: no space left on device"):
        run_files.atomic_write_json(path, {"a": 2})
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.load(open(path)) == {"a": 1} and os.listdir(tmp_path) == ["run_config.json"]
    # h5py reports a full disk as an OSError without errno, the number in its message
    h5py_error = OSError("Unable to synchronously write data (file write failed: errno = 28, "
                         "error message = 'No space left on device')")
    with pytest.raises(run_files.RunFileWriteError) as info:
        with run_files.atomic_output(path, "weights"):
            raise h5py_error
    assert info.value.errno == errno.ENOSPC and "Received: no space left on device (errno ENOSPC)" in str(info.value)
    training.save_run_config(str(tmp_path), {"seed": 3})
    training.save_run_config(str(tmp_path), {"seed": 4})
    record = json.load(open(path))
    assert record["seed"] == 4 and [r["seed"] for r in record["runs"]] == [3, 4]


def test_completed_epochs_counts_distinct_epochs(tmp_path):
    log = tmp_path / training.LOG_FILE
    log.write_text("epoch,loss\n0,1.0\n1,0.9\n1,0.8\n2,0.7\n3,0.")  # epoch 1 twice, last row cut short
    assert training.completed_epochs(str(tmp_path)) == 4
    log.write_text("epoch,loss\n0,1.0\n1,0.9\n1")
    assert training.completed_epochs(str(tmp_path)) == 2
    log.write_text("")
    assert training.completed_epochs(str(tmp_path)) == 0


def test_run_log_widens_its_header_when_a_continued_run_logs_a_new_column(tmp_path):
    path = str(tmp_path / training.LOG_FILE)

    def one_run(first_epoch, *logs):
        log = training.RunLog(path)
        log.on_train_begin()
        for epoch, values in enumerate(logs, first_epoch):
            log.on_epoch_end(epoch, values)
        log.on_train_end()

    one_run(0, {"loss": 1.0, "area": 0.5}, {"loss": 0.9, "area": 0.4})
    with open(path, "a", newline="") as f:
        f.write("2,0.8")  # a row cut short by a kill
    one_run(2, {"loss": 0.8, "area": 0.3, "graded": 0.7})  # a term switched on
    one_run(3, {"loss": 0.7, "area": 0.2})  # and off again
    with open(path, "a", newline="") as f:
        f.write("4,0.")  # cut short again, with no new column next time
    one_run(4, {"loss": 0.6, "area": 0.1, "graded": 0.6})
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    assert lines[0] == "epoch,area,loss,val_area,val_loss,graded,val_graded"
    assert lines[1:] == ["0,0.5,1.0,NA,NA,NA,NA", "1,0.4,0.9,NA,NA,NA,NA", "2,0.8",  # kept as it was
                         "2,0.3,0.8,NA,NA,0.7,NA", "3,0.2,0.7,NA,NA,NA,NA", "4,0.",
                         "4,0.1,0.6,NA,NA,0.6,NA"]
    assert training.completed_epochs(str(tmp_path)) == 5


@pytest.mark.slow
def test_a_phase_with_the_ranking_term_continues_the_same_log(tmp_path):
    output = str(tmp_path / "run")
    model = fresh()
    fit(model, output, epochs=1)
    model.set_objective(graded_weight=1.0)
    history = fit(model, output, epochs=1)  # one more
    assert len(history.history["graded"]) == 1
    with open(os.path.join(output, training.LOG_FILE), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"] and rows[0]["graded"] == "NA"
    assert float(rows[1]["graded"]) != 0.0 and float(rows[1]["loss"]) == pytest.approx(history.history["loss"][0])
    assert training.completed_epochs(output) == 2


@pytest.fixture
def op_determinism():
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    yield
    if not was_enabled:
        tf_config.disable_op_determinism()


def _seeded_losses(seed):
    training.set_seed(seed)
    model = training.compile_saliency_model(
        SaliencyModel.from_classifier(tiny_classifier(width=4), tap_layers=TINY_TAPS, seed=seed)
    )
    data = array_dataset(IMAGES, LABELS, batch_size=8, training=True, seed=seed, shift=2)
    history = model.fit(data, epochs=1, verbose=0)  # 4 steps: shuffles, flips, shifts, fake labels
    return [history.history[name] for name in ("loss", "area", "preserver", "destroyer")]


@pytest.mark.slow
def test_same_seed_same_losses(op_determinism):
    first = _seeded_losses(0)
    assert _seeded_losses(0) == first  # bit for bit


@pytest.mark.slow
def test_continuing_a_run_on_a_full_disk_ends_in_one_line(tmp_path, image_folder):
    """A real full disk (a small tmpfs, where this machine lets the test mount one): continuing
    a finished run cannot write its resume backup. One line, exit status 1, no traceback from
    h5py's clean-up, and the finished model is kept."""
    import subprocess
    import sys

    from keras_saliency.testing import TINY_TAPS, tiny_classifier

    script = os.path.join(os.path.dirname(sys.executable), "keras-saliency")
    if not os.path.exists(script):
        pytest.skip(f"no console script at {script}")
    classifier = str(tmp_path / "tiny.keras")
    tiny_classifier(width=8).save(classifier)
    args = ["train", "--dataset", "folder", "--data-dir", image_folder, "--classifier", classifier, "--tap-layers",
            ",".join(TINY_TAPS), "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8"]
    first = tmp_path / "first"
    result = subprocess.run([script, *args, "--output", str(first)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    used = sum(f.stat().st_size for f in first.iterdir() if f.is_file())
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={used + (256 << 10)}", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        shutil.copytree(first, disk / "run")
        model = (disk / "run" / "model.keras").read_bytes()
        result = subprocess.run([script, *args, "--output", str(disk / "run")], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and "RuntimeError" not in result.stderr, result.stderr[-2000:]
        errors = [line for line in result.stderr.replace("\r", "\n").splitlines() if "Error:" in line]
        assert len(errors) == 1 and "the disk is full" in errors[0], result.stderr[-2000:]
        assert (disk / "run" / "model.keras").read_bytes() == model
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
