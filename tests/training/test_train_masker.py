"""`train_masker(TrainSpec(...))` and `keras-saliency train` are the same run."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import keras

import keras_saliency  # noqa: F401 (registers the custom objects for load_model)
from keras_saliency.cli import main
from keras_saliency.testing import PATCH_CLASS_NAMES, TINY_TAPS, tiny_classifier
from keras_saliency.training import TrainSpec, train_masker

TIME_DEPENDENT = ("output", "keras_version")  # the folder differs; the rest must not


def _files(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def _comparable(run_config):
    record = {k: v for k, v in run_config.items() if k not in TIME_DEPENDENT + ("runs",)}
    record["runs"] = [{k: v for k, v in run.items() if k not in TIME_DEPENDENT} for run in run_config["runs"]]
    return record


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clf") / "clf.keras")
    tiny_classifier(width=8).save(path)
    return path


@pytest.mark.slow
def test_train_masker_and_the_cli_make_the_same_run_folder(tmp_path, image_folder, classifier_file):
    spec = TrainSpec(dataset="folder", data_dir=image_folder, classifier=classifier_file,
                     tap_layers=",".join(TINY_TAPS), epochs=1, batch_size=8, steps_per_epoch=2,
                     output=str(tmp_path / "library"))
    lines = []
    result = train_masker(spec, log=lines.append)
    assert result.output == spec.output and result.class_names == sorted(PATCH_CLASS_NAMES)
    assert len(result.histories) == 1 and len(result.histories[0].history["loss"]) == 1
    assert f"Run folder: {spec.output}" in lines and lines[-1].startswith("Saved ")

    cli_output = str(tmp_path / "cli")
    args = ["train", "--dataset", "folder", "--data-dir", image_folder, "--classifier", classifier_file,
            "--tap-layers", ",".join(TINY_TAPS), "--epochs", "1", "--batch-size", "8",
            "--steps-per-epoch", "2", "--output", cli_output]
    cli = CliRunner().invoke(main, args)
    assert cli.exit_code == 0, cli.output
    for line in lines:  # the same progress lines (in the CLI's folder)
        assert line.replace(spec.output, cli_output) in cli.output

    assert _files(spec.output) == _files(cli_output)
    library_config = json.load(open(os.path.join(spec.output, "run_config.json")))
    cli_config = json.load(open(os.path.join(cli_output, "run_config.json")))
    assert _comparable(library_config) == _comparable(cli_config)
    assert library_config["class_names"] == sorted(PATCH_CLASS_NAMES)

    # the saved model names its classes, with no run_config.json beside it
    loaded = keras.saving.load_model(os.path.join(spec.output, "model.keras"))
    assert loaded.class_names == sorted(PATCH_CLASS_NAMES)
    out = loaded.explain(np.zeros((2, 32, 32, 3), np.float32), np.array([0, 3]))
    assert out["mask"].shape == (2, 32, 32, 1) and out["exists"].shape == (2,)

    # the same spec again continues the run: "epochs" means that many more, with objective
    # options for the epochs to come
    import dataclasses

    area = loaded.config.area_weight
    result = train_masker(dataclasses.replace(spec, objective_options={"area_weight": area + 1.0}), log=lines.append)
    assert result.continued and any(line.startswith("Continuing the model") for line in lines)
    assert result.model.config.area_weight == area + 1.0
    assert keras.saving.load_model(os.path.join(spec.output, "model.keras")).config.area_weight == area + 1.0
    with open(os.path.join(spec.output, "training_log.csv")) as f:
        assert [row.split(",")[0] for row in f.read().split()[1:]] == ["0", "1"]


def test_train_masker_errors_are_one_line_errors_by_type(tmp_path, image_folder):
    with pytest.raises(ValueError, match="Expected `data_dir` .* for the folder dataset") as caught:
        train_masker(TrainSpec(dataset="folder", output=str(tmp_path / "a")), log=lambda line: None)
    assert "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match="Expected `classifier` .* which does not exist"):
        train_masker(TrainSpec(dataset="folder", data_dir=image_folder, classifier=str(tmp_path / "none.keras"),
                               output=str(tmp_path / "b")), log=lambda line: None)
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_masker_options_set_the_design_and_unknown_ones_are_refused_before_the_data(tmp_path, image_folder,
                                                                                   classifier_file):
    from keras_saliency.training import build_masker
    from keras_saliency.training.run import masker_design

    spec = TrainSpec(classifier=classifier_file, tap_layers=",".join(TINY_TAPS), preset="gated-fpn",
                     masker_options={"mask_stride": 2, "decoder_filters": [16], "head": "abs_ratio"})
    assert masker_design(spec) == {"mask_stride": 2, "decoder_filters": (16,), "head": "abs_ratio"}
    model = build_masker(spec, keras.saving.load_model(classifier_file), log=lambda line: None)
    assert (model.masker.mask_stride, tuple(model.masker.decoder_filters), model.masker.head) == (2, (16,), "abs_ratio")
    model.fit(np.zeros((4, 32, 32, 3), np.float32), np.array([0, 1, 2, 3]), epochs=1, verbose=0)
    bad = TrainSpec(dataset="folder", data_dir=str(tmp_path / "no-such-folder"), masker_options={"mask_strde": 2})
    with pytest.raises(ValueError, match="Expected `masker_options` keys in .* Received: mask_strde"):
        train_masker(bad, log=lambda line: None)  # refused first, before the missing folder
    cli = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", image_folder,
                                    "--masker-option", "mask_strde=2", "--output", str(tmp_path / "c")])
    assert cli.exit_code == 2 and "Expected --masker-option keys in" in cli.output, cli.output
    assert not os.path.exists(tmp_path / "c")


def test_resume_plan_is_the_one_epoch_rule(tmp_path):
    from keras_saliency.training.fit import RunFiles, resume_plan

    run = tmp_path / "run"
    run.mkdir()
    assert resume_plan(str(run), 5) == resume_plan(str(run), 5, up_to=True)
    assert (resume_plan(str(run), 5).initial_epoch, resume_plan(str(run), 5).final_epoch) == (0, 5)
    (run / "model.keras").write_bytes(b"")
    (run / "training_log.csv").write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    more, in_all = resume_plan(str(run), 5), resume_plan(str(run), 5, up_to=True)
    assert (more.initial_epoch, more.final_epoch, more.has_model) == (3, 8, True)  # 5 more
    assert (in_all.initial_epoch, in_all.final_epoch) == (3, 5)  # up to 5 in all
    assert resume_plan(str(run), 2, up_to=True).done
    (run / "backup").mkdir()  # a killed run: the range it was started with
    (run / "fit_state.json").write_text('{"initial_epoch": 3, "epochs": 4}')
    killed = resume_plan(str(run), 99)
    assert (killed.initial_epoch, killed.final_epoch, killed.interrupted) == (3, 7, True) and not killed.done
    assert RunFiles("classifier").backup == "classifier_backup"
    assert resume_plan(str(run), 4, files=RunFiles("classifier")).has_model is False


_KILLED_RUN = """
import sys
import keras_saliency
from keras_saliency.training import TrainSpec, train_masker
from keras_saliency.training import fit

original = fit.RunBackup.on_epoch_end

def on_epoch_end(self, epoch, logs=None):
    original(self, epoch, logs)
    if epoch == 1:  # the backup of epoch 1 is on disk: die as kill -9 would
        import os
        os._exit(9)

fit.RunBackup.on_epoch_end = on_epoch_end
train_masker(TrainSpec(dataset="folder", data_dir=sys.argv[1], classifier=sys.argv[2], tap_layers=sys.argv[3],
                       epochs=4, batch_size=8, steps_per_epoch=2, output=sys.argv[4], seed=0))
"""


@pytest.mark.slow
def test_a_killed_train_masker_run_resumes_through_the_resume_rule(tmp_path, image_folder, classifier_file):
    import subprocess
    import sys

    from keras_saliency.training.fit import completed_epochs, resume_plan

    output = str(tmp_path / "run")
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_RUN)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    killed = subprocess.run([sys.executable, str(script), image_folder, classifier_file, ",".join(TINY_TAPS), output],
                            capture_output=True, text=True, env=env, timeout=600)
    assert killed.returncode == 9, killed.stdout + killed.stderr
    plan = resume_plan(output, 4)
    assert plan.interrupted and (plan.initial_epoch, plan.final_epoch) == (0, 4)
    assert completed_epochs(output) == 2 and not os.path.exists(os.path.join(output, "model.keras"))

    spec = TrainSpec(dataset="folder", data_dir=image_folder, classifier=classifier_file,
                     tap_layers=",".join(TINY_TAPS), epochs=4, batch_size=8, steps_per_epoch=2, output=output)
    said = []
    result = train_masker(spec, log=said.append)
    assert len(result.histories[-1].history["loss"]) == 2  # epochs 2 and 3 only
    assert f"Resuming the interrupted run in {output} at epoch 3 of 4 (from its backup)" in said
    assert completed_epochs(output) == 4
    assert os.path.exists(os.path.join(output, "model.keras")) and not os.path.exists(os.path.join(output, "backup"))
    assert not os.path.exists(os.path.join(output, "fit_state.json"))


def test_a_run_whose_masks_say_nothing_says_so():
    import numpy as np

    from keras_saliency.training.run import mask_warning

    assert "are empty (mean 0.000)" in mask_warning(np.zeros((8, 32, 32, 1)))
    assert "are lit everywhere (mean 1.000)" in mask_warning(np.ones((8, 32, 32, 1)))
    masks = np.zeros((8, 32, 32, 1))
    masks[:, 8:20, 8:20] = 1.0  # a square on each image
    assert mask_warning(masks) is None
