"""`keras-saliency`: a thin click layer over the library.

Only click and the standard library load with the command: each command imports what it needs
(TensorFlow included) when it runs, so `--help` and `--version` are instant. TensorFlow's
start-up lines (oneDNN, CUDA drivers, cuInit) are kept off the terminal unless
TF_CPP_MIN_LOG_LEVEL is set by the user. Errors a user can cause (a bad file, a full or
read-only disk, no internet) end the command with one line, never a traceback."""

import errno
import functools
import json
import logging
import os
import re
import sys
import tempfile
import warnings

import click

from keras_saliency import pretrained

logger = logging.getLogger("keras_saliency")

DATASETS = ("cifar10", "imagenet2012", "imagenette", "folder")
BACKBONE_NAMES = ("resnet50", "mobilenet_v2", "efficientnet_b0")  # keras_saliency.models.encoders.BACKBONES
METHOD_NAMES = ("masker", "gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion", "rise",
                "optimisation", "centre_box", "full_image", "lrp_epsilon_gamma_box",
                "lrp_epsilon_plus_flat")  # keras_saliency.methods.METHODS
MODEL_NAMES = ", ".join(pretrained.available())  # TensorFlow-free: the shipped files' names
EXPORT_EXTRA = "install the export extra: pip install 'keras-saliency[export]'"

# Set before TensorFlow loads (it reads it once); a user's own setting shows TensorFlow's lines.
_USER_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# absl's C++ lines from before its InitializeLog() (TF_CPP_MIN_LOG_LEVEL does not hold them back)
# and TensorFlow's own "YYYY-mm-dd hh:mm:ss.ffffff: I ..." lines.
_TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)


class _EchoHandler(logging.Handler):
    """The library's log messages on click's current stderr (which CliRunner replaces)."""

    def emit(self, record):
        click.echo(self.format(record), err=True)


def _setup_logging():
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.INFO)


class UserError(click.ClickException):
    """One line on stderr ("Error: ..."), exit status 2: the command was refused before it did
    anything (bad input, a missing extra, an output it will not overwrite)."""

    exit_code = 2


def _load_tensorflow():
    """Imports TensorFlow (its C++ start-up lines filtered out of the process's stderr), quiets
    its and absl's Python loggers and registers keras_saliency's custom objects (the command
    line skips that on import)."""
    if "tensorflow" not in sys.modules and not _USER_TF_LOG_LEVEL:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # CUDA's start-up lines, now
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                lines = captured.read().decode("utf-8", "replace").splitlines()
        for line in lines:  # anything else (a real error) still shows
            if line.strip() and not _TF_LOG_LINE.match(line):
                click.echo(line, err=True)
    # Keras' fit warns that it does not shuffle a tf.data.Dataset (ours are shuffled already)
    warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored")
    if not _USER_TF_LOG_LEVEL:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:
            pass
    from keras_saliency.models import classifiers, layers, masker, model  # noqa: F401 (registration)


_OS_ERROR_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or give --output on another disk",
    getattr(errno, "EDQUOT", -1): "the disk quota is exceeded: free some space or give --output on another disk",
    errno.EROFS: "the file system is read-only: give --output on a writable disk",
    errno.EACCES: "permission denied: check the file's permissions, or give --output in a folder you can write",
    errno.EPERM: "operation not permitted: check the file's permissions, or give --output in a folder you can write",
}
_TF_FILE_ERRORS = {"No space left on device": errno.ENOSPC, "Read-only file system": errno.EROFS,
                   "Permission denied": errno.EACCES, "Disk quota exceeded": getattr(errno, "EDQUOT", -1)}


def _os_error_line(error):
    """One line for an OSError: what failed, on which file, and what to do."""
    text = str(error).strip()
    what = error.strerror or (text.splitlines()[0] if text else type(error).__name__)
    where = f" ({error.filename})" if getattr(error, "filename", None) else ""
    advice = _OS_ERROR_ADVICE.get(getattr(error, "errno", None))
    return f"{what}{where}" + (f"; {advice}" if advice else "")


def _command(function=None, *, before=None):
    """Runs a command with TensorFlow loaded quietly (after `before(options)`, a check that
    needs no TensorFlow); a full, read-only or forbidden disk and any other OSError
    (TensorFlow's file errors included) end it with one line."""

    def decorate(function):
        @functools.wraps(function)
        def run(**options):
            if before is not None:
                before(options)
            _load_tensorflow()
            try:
                return function(**options)
            except OSError as error:
                raise click.ClickException(_os_error_line(error)) from error
            except Exception as error:
                tf = sys.modules.get("tensorflow")
                if tf is not None and isinstance(error, tf.errors.OpError):
                    message = error.message or str(error)
                    for text, number in _TF_FILE_ERRORS.items():
                        if text in message:
                            line = message.strip().splitlines()[0][:300]
                            raise click.ClickException(f"{line}; {_OS_ERROR_ADVICE[number]}") from error
                raise

        return run

    return decorate(function) if function is not None else decorate


@click.group()
@click.version_option(package_name="keras-saliency")
def main():
    """Real-time saliency masks for Keras image classifiers (Dabkowski & Gal, 2017)."""
    _setup_logging()


@main.command()
@click.option("--output", default="saliency-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="Fewer images and epochs (a smoke run, lower hit rate).")
@click.option("--seed", default=0, show_default=True)
@_command
def demo(output, quick, seed):
    """Train a masker on a built-in synthetic task and write overlay PNGs (no download)."""
    from keras_saliency.training.demo import DemoConfig, run_demo

    config = DemoConfig(seed=seed)
    if quick:
        config.train_images, config.test_images = 800, 64
        config.classifier_epochs, config.masker_epochs = 2, 2
    click.echo(
        f"Training a tiny classifier, then a masker, on {config.train_images} synthetic images "
        "(the class is the stripe pattern of a small patch)..."
    )
    results, _, _ = run_demo(output, config, verbose=2)
    click.echo(
        f"classifier accuracy {results['classifier_accuracy']:.3f}; masks hit the patch "
        f"(IoU >= 0.5) on {results['hit_rate']:.1%} of {results['test_images']} held-out images "
        f"({results['threshold_rule']}); {results['seconds']:.0f} s"
    )
    click.echo(
        f"for a class absent from the image the mean mask is {results['mean_mask_absent_class']:.4f} "
        f"(present: {results['mean_mask']:.4f}) and 'exists' {results['exists_probability_absent_class']:.2f} "
        f"(present: {results['exists_probability']:.2f})"
    )
    click.echo(f"Overlays: {results['overlays']}")


def _first_line(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


@main.command()
@click.option("--dataset", type=click.Choice(DATASETS), default="cifar10", show_default=True)
@click.option("--data-dir", type=click.Path(), help="Image folder (folder), manual download dir (imagenet2012) or tensorflow-datasets dir.")
@click.option("--classifier", "classifier_name", help="Backbone name (resnet50, mobilenet_v2, efficientnet_b0) or a .keras file. Default: train a small CIFAR-style classifier first.")
@click.option("--classifier-preprocessing", type=click.Choice(["none", "unit", "symmetric", "caffe", "torch"]), help="How [0, 255] pixels become the classifier's input (a .keras classifier: default none).")
@click.option("--encoder", default="classifier", show_default=True, help="'classifier' (tap the classifier's own layers) or a backbone name.")
@click.option("--tap-layers", help="Comma-separated layer names of the classifier to use as features, shallow to deep.")
@click.option("--epochs", default=10, show_default=True, type=int)
@click.option("--classifier-epochs", default=15, show_default=True, type=int, help="When the small classifier is trained first.")
@click.option("--steps-per-epoch", type=int, help="Limit each epoch (default: the whole dataset).")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--image-size", type=int, help="Default: 32 for cifar10 and folders, 224 otherwise.")
@click.option("--learning-rate", default=1e-3, show_default=True, type=float)
@click.option("--validation-split", default=0.1, show_default=True, type=float, help="Held out from a folder (seeded, per class).")
@click.option("--mixed-precision", is_flag=True, help="mixed_float16 policy (for GPUs).")
@click.option("--weights", type=click.Choice(["imagenet", "none"]), default="imagenet", show_default=True, help="Keras Applications weights of a named --classifier / --encoder (imagenet: downloaded; none: random, for dry runs).")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker", "tpu"]), default="default", show_default=True, help="tf.distribute strategy: mirrored (all GPUs here), multi-worker (TF_CONFIG), tpu.")
@click.option("--schedule", type=click.Choice(["auto", "single", "two-phase"]), default="auto", show_default=True, help="two-phase (the paper's: class selector first, then everything) is the default for imagenet2012, single otherwise.")
@click.option("--selector-epochs", default=1, show_default=True, type=int, help="Phase 1 of the two-phase schedule.")
@click.option("--dry-run", is_flag=True, help="Build everything and train a few steps (--steps-per-epoch, default 2) per phase, 1 epoch; nothing is saved.")
@click.option("--objective", type=click.Choice(["code", "paper"]), default="code", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--output", type=click.Path(file_okay=False), help="Run folder (default: saliency-runs/DATASET-YYYYmmdd-HHMMSS); an existing one is resumed or continued, never overwritten.")
@click.option("--tensorboard", type=click.Path(file_okay=False), help="TensorBoard log folder: the losses (keras.callbacks.TensorBoard) and, after every epoch, the masks of 8 fixed validation images (run 'masks'). View with: tensorboard --logdir DIR")
@_command
def train(**options):
    """Train a masker against a frozen classifier. Before training, a few steps are timed and
    an estimate of the run's length on this machine is printed."""
    from keras_saliency.training import TrainError, TrainSpec, train_masker

    options["classifier"] = options.pop("classifier_name")
    try:
        train_masker(TrainSpec(**options), log=click.echo)
    except TrainError as error:  # one line, as the command line's own errors
        flag = f"--{error.field.replace('_', '-')}" if error.field else None
        if error.kind == "usage":
            raise click.UsageError(str(error)) from None
        if error.kind == "parameter":
            raise click.BadParameter(str(error), param_hint=flag) from None
        if error.kind == "refused":
            raise UserError(str(error)) from None
        raise click.ClickException(str(error)) from error


def parse_assignments(items, param_hint):
    """`["a=1", "b.c=[2, 3]", "d=text"]` -> `{"a": 1, "b.c": [2, 3], "d": "text"}`: values are
    JSON, or plain strings when they are not JSON."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE; received {item!r}", param_hint=param_hint)
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


@main.command("convert-boxes")
@click.argument("source", type=click.Path(exists=True))
@click.option("--extension", default=".JPEG", show_default=True, help="Added to image names without one.")
@click.option("--output", default="boxes.csv", show_default=True, type=click.Path(dir_okay=False))
@_command
def convert_boxes(source, extension, output):
    """ImageNet box annotations (a folder of ILSVRC .xml files, one .xml, or LOC_val_solution.csv)
    to boxes.csv (path,xmin,ymin,xmax,ymax,label) for `evaluate --boxes`."""
    from keras_saliency.evaluation import imagenet_boxes

    try:
        count = imagenet_boxes.convert(source, output, extension)
    except ValueError as error:  # (an OSError: one line from _command)
        raise click.ClickException(str(error)) from error
    click.echo(f"Wrote {count} boxes to {output}")


def _load_saliency_model(name_or_path, confidence=None):
    """`explain.load_saliency_model`, its one-line errors as UserError."""
    from keras_saliency.explain.files import load_saliency_model

    try:
        return load_saliency_model(name_or_path, confidence)
    except ValueError as error:
        raise UserError(_first_line(error)) from None


def _class_id(value, class_names, num_classes):
    """`value`: an id, or a name in one of the `class_names` lists (folder names, readable)."""
    if value is None:
        return None
    matches = [names.index(value) for names in class_names if names and value in names]
    if value.isdigit():
        class_id = int(value)
    elif matches:
        class_id = matches[0]
    else:
        raise click.BadParameter(
            f"expected a class id in [0, {num_classes}) or a class name (e.g. "
            f"{(class_names[-1] or ['?'])[:3]}); received {value!r}",
            param_hint="--class",
        )
    if not 0 <= class_id < num_classes:
        raise click.BadParameter(
            f"expected a class id in [0, {num_classes}); received {class_id}", param_hint="--class"
        )
    return class_id


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file.")
@click.option("--class", "class_name", help="Class name or id to explain (default: the predicted class of each image).")
@click.option("--confidence", type=float, help="Class selector threshold (higher: only the most salient parts).")
@click.option("--top-k", default=1, show_default=True, type=int, help="Without --class: explain the K classes the classifier ranks highest (one row each).")
@click.option("--save-masks", is_flag=True, help="Also write each mask as .npy at the image's original resolution (with --top-k K: K masks).")
@click.option("--batch-size", default=32, show_default=True, type=int)
@click.option("--output", default="saliency-explanations", show_default=True, type=click.Path(file_okay=False))
@_command
def explain(inputs, model_name, class_name, confidence, top_k, save_masks, batch_size, output):
    """Saliency masks for images or folders of images (none given: the sample photos shipped
    with the package): one PNG per image (image | mask heat-map | preserved | destroyed) and a
    CSV of the explained classes."""
    from keras_saliency import samples
    from keras_saliency.explain.files import explain_files, find_images

    if not inputs:
        inputs = tuple(samples.paths())
        click.echo(f"No images given: explaining the {len(inputs)} sample photos shipped with the package")
    model, class_names, info = _load_saliency_model(model_name, confidence)
    display = info.get("display_names") or class_names
    files = find_images(inputs)
    if not files:
        raise click.ClickException(f"Expected image files in {list(inputs)}. Received: none")
    class_id = _class_id(class_name, [class_names, display], model.num_classes)
    try:
        rows = explain_files(
            model, files, output, class_id=class_id, class_names=display,
            save_masks=save_masks, batch_size=batch_size, top_k=top_k,
            run_config={"model": model_name, "class": class_name, "confidence": confidence, "top_k": top_k,
                        "inputs": list(inputs)},
        )
    except ValueError as error:  # no readable image
        raise click.ClickException(str(error)) from error
    explained = len({row["path"] for row in rows})
    click.echo(f"Explained {explained} images ({len(files) - explained} skipped) into {output}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file.")
@click.option("--boxes", type=click.Path(exists=True), help="boxes.csv (path,xmin,ymin,xmax,ymax[,label]; paths relative to FOLDER), or ImageNet's own annotations (a folder of ILSVRC .xml files or LOC_val_solution.csv, converted to OUTPUT/boxes.csv), for localisation and the pointing game.")
@click.option("--methods", help=f"Comma-separated method names: {', '.join(METHOD_NAMES)}. Default: all but the LRP ones, the learned masker first.")
@click.option("--limit", default=300, show_default=True, type=int, help="A seeded random subset of at most this many images (0: all).")
@click.option("--split", type=click.Choice(["all", "validation"]), default="all", show_default=True, help="validation: only the held-out part of a class folder (the recipes' and `train`'s seeded 10% split).")
@click.option("--calibration-fraction", default=0.3, show_default=True, type=float, help="Images used to choose each method's threshold; the rest are scored.")
@click.option("--slow-limit", default=60, show_default=True, type=int, help="Score the slow methods (optimisation, rise) on at most this many test images (0: all).")
@click.option("--option", "options", multiple=True, help="Method option, e.g. --option rise.num_masks=2000 --option optimisation.steps=100 (JSON value).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), help="labels.csv (path,label: class ids) of a flat folder. Default: a labels.csv in FOLDER or its parent.")
@click.option("--subset", type=click.Path(exists=True, dir_okay=False), help="A path,part CSV (a fixed split): thresholds are chosen on its 'calibration' images, figures measured on its 'test' images; other images are ignored.")
@click.option("--faithfulness-limit", default=0, show_default=True, type=int, help="Saliency metrics and deletion/insertion on at most this many calibration and test images (0: all).")
@click.option("--extra-masker", "extra_maskers", multiple=True, help="LABEL=PATH: another masker (.keras) for the same classifier, scored as one more row.")
@click.option("--road-limit", default=32, show_default=True, type=int, help="ROAD (MoRF / LeRF with noisy linear imputation) on at most this many test images (0: all).")
@click.option("--no-road", is_flag=True, help="Skip ROAD.")
@click.option("--sanity", is_flag=True, help="Also run the sanity checks (cascading randomisation of the classifier, and of the masker's own layers): sanity.csv, sanity.md, sanity.png.")
@click.option("--sanity-limit", default=16, show_default=True, type=int, help="Images of the sanity checks (0: all).")
@click.option("--output", default="saliency-evaluation", show_default=True, type=click.Path(file_okay=False))
@_command
def evaluate(folder, model_name, boxes, methods, limit, split, calibration_fraction, slow_limit, options, seed,
             labels, subset, faithfulness_limit, extra_maskers, road_limit, no_road, sanity, sanity_limit, output):
    """Compare the learned masker with classic saliency methods on the same classifier: saliency
    metric (and the variant without rescaling), localisation error, pointing game, deletion /
    insertion AUC, ROAD and masks/s, written as CSV, Markdown and a PNG grid; with --sanity, the
    sanity checks of every method."""

    from keras_saliency.evaluation import (
        DEFAULT_METHODS,
        evaluate_methods,
        load_evaluation_images,
        markdown_table,
    )
    from keras_saliency.methods import METHODS

    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else list(DEFAULT_METHODS)
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise click.BadParameter(f"expected names in {sorted(METHODS)}; received {unknown}", param_hint="--methods")
    method_options = {}
    for key, value in parse_assignments(options, "--option").items():
        method, dot, option = key.partition(".")
        if not dot or method not in METHODS:
            raise click.BadParameter(f"expected METHOD.OPTION=VALUE; received {key!r}", param_hint="--option")
        method_options.setdefault(method, {})[option] = value
    model, class_names, _ = _load_saliency_model(model_name)
    if boxes:
        from keras_saliency.evaluation import imagenet_boxes

        if imagenet_boxes.is_imagenet_source(boxes):
            converted = os.path.join(output, "boxes.csv")
            count = imagenet_boxes.convert(boxes, converted)
            click.echo(f"Converted {count} ImageNet boxes from {boxes} to {converted}")
            boxes = converted
    try:
        data = load_evaluation_images(
            folder, model.image_size, boxes_csv=boxes, class_names=class_names,
            split=None if split == "all" else (0.1, 0, "validation"), limit=limit or None, seed=seed,
            labels_csv=labels, subset_csv=subset,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    from keras_saliency.methods import build_method

    for name in (n for n in names if n.startswith("lrp_")):  # an unsupported layer: one line, before the run
        try:
            build_method(name, model, **method_options.get(name, {}))
        except (ValueError, TypeError) as error:
            raise click.BadParameter(f"{name}: {error}", param_hint="--methods") from None
    click.echo(
        f"Evaluating {len(names)} methods on {len(data)} images from {folder} "
        f"({'with' if data.boxes is not None else 'without'} boxes, "
        f"{'given' if data.class_ids is not None else 'predicted'} classes)"
    )
    results = evaluate_methods(
        model, data, names, output=output, calibration_fraction=calibration_fraction,
        seed=seed, method_options=method_options, slow_limit=slow_limit or None,
        faithfulness_limit=faithfulness_limit or None,
        extra_maskers={label: _load_saliency_model(path)[0]
                       for label, path in parse_assignments(extra_maskers, "--extra-masker").items()},
        road_limit=road_limit or None, road_enabled=not no_road,
    )
    with open(os.path.join(output, "evaluation_config.json")) as f:
        config = json.load(f)
    config.update({"folder": folder, "model": model_name, "boxes": boxes, "limit": limit, "split": split,
                   "labels": labels, "subset": subset, "extra_maskers": list(extra_maskers)})
    with open(os.path.join(output, "evaluation_config.json"), "w") as f:
        json.dump(config, f, indent=2, default=str)
    click.echo(markdown_table(results))
    click.echo(f"Saved results.csv, results.md, examples.png and evaluation_config.json in {output}")
    if sanity:
        from keras_saliency.evaluation.sanity import run_sanity_checks

        summary = run_sanity_checks(model, data, names, output, method_options, seed=seed, limit=sanity_limit or None)
        click.echo(summary)
        click.echo(f"Saved sanity.csv, sanity.md, sanity.png and sanity_curves.png in {output}")


EXPORT_MODULES = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "tflite": ("ai_edge_litert",), "saved_model": ()}
ENGINE_SUFFIXES = (".engine", ".plan")


def _missing_modules(names):
    """The modules of `names` that cannot be imported (found without importing them)."""
    import importlib.util

    missing = []
    for name in names:
        try:
            found = sys.modules[name] is not None if name in sys.modules else importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _export_paths(options):
    """Resolves the export's output paths (a default when --output is not given) and refuses,
    before anything loads, what cannot work: a missing export extra, an output that does not fit
    the format, files it would overwrite without --overwrite. Adds "onnx_output" and
    "engine_output" to `options`."""
    export_format, quantize, trt, output = (options[k] for k in ("export_format", "quantize", "trt", "output"))
    if not output:
        stem = os.path.splitext(os.path.basename(options["model_name"].rstrip("/")))[0]
        suffix = {"saved_model": "-saved_model", "tflite": ".tflite", "onnx": ".engine" if trt else ".onnx"}[export_format]
        if export_format == "tflite" and quantize != "float32":
            suffix = f"-{quantize}.tflite"
        output = options["output"] = os.path.join("saliency-exports", stem + suffix)
    lower = output.lower()
    if lower.endswith(ENGINE_SUFFIXES):
        if not trt or export_format != "onnx":
            raise UserError(f"Expected --trt (and --format onnx) with a TensorRT engine output. Received: --output {output}")
        options["onnx_output"], options["engine_output"] = os.path.splitext(output)[0] + ".onnx", output
    elif export_format == "onnx":
        if not lower.endswith(".onnx"):
            raise UserError(f"Expected an --output ending in .onnx (or .engine / .plan with --trt). Received: {output}")
        options["onnx_output"] = output
        options["engine_output"] = output[: -len(".onnx")] + ".engine" if trt else None
    elif export_format == "tflite" and not lower.endswith(".tflite"):
        raise UserError(f"Expected an --output ending in .tflite. Received: {output}")
    missing = _missing_modules(EXPORT_MODULES[export_format])
    if missing:
        raise UserError(f"{export_format} export needs {', '.join(missing)}: {EXPORT_EXTRA}")
    if options["overwrite"]:
        return
    if export_format == "saved_model":
        if os.path.isfile(output) or (os.path.isdir(output) and os.listdir(output)):
            raise UserError(f"{output} exists and is not an empty folder: give --overwrite to write the "
                            "SavedModel into it, or another --output")
        return
    written = [output] if export_format == "tflite" else [options["onnx_output"]]
    if export_format == "onnx":
        base = options["onnx_output"][: -len(".onnx")]
        written += [f"{base}.{quantize}.onnx"] if quantize in ("float16", "int8") else []
        written += [options["engine_output"]] if trt else []
    existing = [path for path in written if os.path.lexists(path)]
    if existing:
        raise UserError(f"{', '.join(existing)} already exists: give --overwrite to replace it, or another --output")


def _rename_engine(report, built, wanted):
    """Moves the engine export_masker wrote (BASE.engine) to the --output asked (BASE.plan) and
    rewrites the report's paths."""
    if built == wanted or not os.path.exists(built):
        return report
    os.replace(built, wanted)
    report = json.loads(json.dumps(report, default=str).replace(json.dumps(built)[1:-1], json.dumps(wanted)[1:-1]))
    with open(report["output"].rstrip("/") + ".report.json", "w") as f:
        json.dump(report, f, indent=2, default=str)
    return report


@main.command("export", help=f"""Export the masker MODEL (a shipped model: {MODEL_NAMES}; or a masker's
.keras file) and verify the export against the Keras model: max / mean difference, rank
correlation, top-20% IoU, printed and saved as OUTPUT.report.json. ONNX, TFLite and --trt need
the export extra: pip install 'keras-saliency[export]'. Exit status: 0 when the export passes
its parity goals, 2 when it is refused or TensorRT is missing, 3 when the verification fails
(unless --allow-failed-verification).""")
@click.argument("model_name", metavar="MODEL")
@click.option("--format", "export_format", type=click.Choice(["saved_model", "tflite", "onnx"]), default="onnx", show_default=True)
@click.option("--quantize", type=click.Choice(["float32", "float16", "dynamic", "int8"]), default="float32", show_default=True, help="tflite: all four; onnx / --trt: float32, float16, int8 (int8: Q/DQ ONNX, calibrated).")
@click.option("--trt", is_flag=True, help="Also build a TensorRT engine from the ONNX model (needs tensorrt and a GPU; exits 2 without them, after writing the ONNX model). --output may name the engine (.engine or .plan): the ONNX model goes next to it.")
@click.option("--calibration-data", type=click.Path(exists=True, file_okay=False), help="Folder of real images: int8 calibration, and held-out images for the verification.")
@click.option("--calibration-images", default=200, show_default=True, type=int)
@click.option("--verification-images", default=100, show_default=True, type=int)
@click.option("--input-dtype", type=click.Choice(["float32", "uint8"]), default="float32", show_default=True, help="The `image` input's type.")
@click.option("--max-batch-size", default=32, show_default=True, type=int, help="TensorRT: largest batch of the engine's profile.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace existing output files (or write a SavedModel into a folder that is not empty).")
@click.option("--allow-failed-verification", is_flag=True, help="Exit 0 even when the export misses its parity goals (default: exit status 3).")
@click.option("--output", type=click.Path(), help="A folder (saved_model), a .tflite or .onnx file, or with --trt an .engine / .plan file. Default: saliency-exports/MODEL.onnx (-saved_model, .tflite, .engine).")
@_command(before=_export_paths)
def export_command(model_name, export_format, quantize, trt, calibration_data, calibration_images,
                   verification_images, input_dtype, max_batch_size, seed, overwrite, allow_failed_verification,
                   output, onnx_output=None, engine_output=None):
    from keras_saliency.deployment.export import (
        EngineNotBuilt, ExportRequest, export_masker, predicted_classes, report_table,
        sample_images, synthetic_images,
    )

    try:
        request = ExportRequest(export_format, quantize, input_dtype, trt, max_batch_size)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    model, class_names, info = _load_saliency_model(model_name)
    size = model.image_size
    if calibration_data:
        try:
            images = sample_images(calibration_data, size, calibration_images + verification_images, seed)
        except ValueError as error:
            raise click.ClickException(str(error)) from error
        if len(images) <= verification_images:
            raise click.ClickException(
                f"Expected more than {verification_images} images in {calibration_data} (calibration + "
                f"verification). Received: {len(images)}")
        calibration, verification = images[:-verification_images], images[-verification_images:]
        source = f"{len(calibration)} calibration + {len(verification)} held-out verification images from {calibration_data}"
    elif quantize == "int8":
        raise click.BadParameter("int8 needs --calibration-data (a folder of real images)", param_hint="--quantize")
    else:
        calibration, verification = None, synthetic_images(size, verification_images, seed)
        source = f"{verification_images} synthetic images (give --calibration-data for real-image figures)"
    target = onnx_output or output
    parent = os.path.dirname(os.path.abspath(target.rstrip("/")))
    os.makedirs(parent, exist_ok=True)
    click.echo(f"Exporting {model_name} ({export_format}, {quantize}{', TensorRT' if trt else ''}) to {output}; "
               f"verifying on {source}")
    try:
        report = export_masker(
            model, target, request,
            calibration_images=calibration,
            calibration_class_ids=None if calibration is None else predicted_classes(model, calibration),
            verification_images=verification,
            verification_class_ids=predicted_classes(model, verification),
            class_names=info.get("display_names") or class_names,
        )
        missing = None
    except EngineNotBuilt as error:
        missing = str(error)
        with open(target.rstrip("/") + ".report.json") as f:
            report = json.load(f)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    except ImportError as error:  # an export dependency that does not load
        line = _first_line(error)
        raise UserError(line if "[export]" in line else f"{line}: {EXPORT_EXTRA}") from None
    if trt and not missing:
        report = _rename_engine(report, target[: -len(".onnx")] + ".engine", engine_output)
    click.echo(report_table(report))
    written = ", ".join(os.path.basename(f["path"].rstrip("/")) for f in report["files"])
    click.echo(f"Wrote {written} in {parent} and {os.path.basename(target.rstrip('/'))}.report.json "
               f"(figures and the resolved request); verified on {source}")
    if missing:
        click.echo(f"TensorRT engine NOT built: {missing}. The ONNX model is written.", err=True)
        sys.exit(2)
    if not report["passed"]:
        if not allow_failed_verification:
            click.echo(f"Error: the export missed its parity goals (see the table and {target.rstrip('/')}"
                       ".report.json); give --allow-failed-verification to accept it", err=True)
            sys.exit(3)
        click.echo("Some parity goals were missed (see the table); accepted (--allow-failed-verification).", err=True)


@main.command()
@click.option("--model", "model_name", help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (default: an untrained masker on --encoder; speed does not depend on the weights).")
@click.option("--encoder", default="mobilenet_v2", show_default=True, type=click.Choice(["mobilenet_v2", "resnet50", "efficientnet_b0"]), help="Without --model: a Keras Applications classifier (weights=None) whose own layers are the encoder.")
@click.option("--image-size", default=224, show_default=True, type=int)
@click.option("--decoder-filters", default="32,16,8", show_default=True, help="Without --model: the decoder's widths (the real-time preset; the paper-size decoder is 256,128,64).")
@click.option("--mask-stride", default=8, show_default=True, type=int, help="Without --model: image side / mask side.")
@click.option("--batch-sizes", default="1,32", show_default=True)
@click.option("--backends", default=",".join(["keras", "saved_model", "tflite_float32", "tflite_float16", "tflite_int8", "onnx"]), show_default=True, help="Comma-separated: keras, keras_xla, saved_model, tflite_float32, tflite_float16, tflite_dynamic, tflite_int8, onnx.")
@click.option("--seconds", default=3.0, show_default=True, type=float, help="Timing per backend, batch size and model part.")
@click.option("--calibration-data", type=click.Path(exists=True, file_okay=False), help="Real images for the int8 calibration and the timed batches (default: random pixels).")
@click.option("--no-gradcam", is_flag=True, help="Skip the Grad-CAM reference.")
@click.option("--output", default="saliency-benchmark", show_default=True, type=click.Path(file_okay=False))
@_command
def benchmark(model_name, encoder, image_size, decoder_filters, mask_stride, batch_sizes, backends, seconds,
              calibration_data, no_gradcam, output):
    """Masks/s and latency of the masker in Keras, SavedModel, TFLite (fp32 / fp16 / int8) and
    ONNX Runtime, with its bare encoder in the same runtime and Grad-CAM on the same classifier
    measured in the same run. Writes benchmark.csv, benchmark.md and benchmark_config.json."""
    import platform

    from keras_saliency.deployment import benchmark as bench
    from keras_saliency.deployment.export import predicted_classes, sample_images

    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
        names = bench.check_backends([b.strip() for b in backends.split(",") if b.strip()])
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    if model_name:
        model, _, _ = _load_saliency_model(model_name)
        described = model_name
    else:
        from keras_saliency.models.encoders import application_classifier
        from keras_saliency.training.fit import build_saliency_model

        classifier, preprocessing = application_classifier(encoder, image_size, weights=None)
        model = build_saliency_model(
            classifier, encoder=encoder, classifier_preprocessing=preprocessing, encoder_weights=None,
            decoder_filters=tuple(int(f) for f in decoder_filters.split(",")), mask_stride=mask_stride,
        )
        described = f"untrained {encoder} masker, decoder {decoder_filters}, mask stride {mask_stride}"
    images = class_ids = None
    if calibration_data:
        try:
            images = sample_images(calibration_data, model.image_size, 100).astype("float32")
        except ValueError as error:  # no readable image
            raise click.ClickException(str(error)) from error
        class_ids = predicted_classes(model, images)
    click.echo(f"Benchmarking {described} at {model.image_size}x{model.image_size}, batches {sizes}: {names}")
    rows = bench.benchmark_masker(model, sizes, names, seconds, images, class_ids, gradcam=not no_gradcam,
                                  progress=click.echo)
    config = {"model": model_name or described, "image_size": model.image_size, "batch_sizes": sizes,
              "backends": names, "seconds": seconds, "calibration_data": calibration_data,
              "masker_parameters": model.masker.count_params(), "encoder_parameters": model.masker.encoder.count_params(),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}
    bench.write_benchmark(output, rows, config)
    click.echo(bench.markdown_table(rows))
    click.echo(f"Saved benchmark.csv, benchmark.md and benchmark_config.json in {output}")


@main.command()
@click.argument("source", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--camera", type=int, help="Read from this camera index instead of a file.")
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported, for its image size and class names).")
@click.option("--runtime", "runtime_path", type=click.Path(exists=True), help="Run an exported model instead (.tflite, .onnx, .engine / .plan, or a SavedModel folder); needs --class. A SavedModel runs whatever graph it holds (file and network operations included): load only SavedModels you trust; prefer .tflite / .onnx, which are data only.")
@click.option("--class", "class_name", help="Class name or id (default: each frame's predicted class; exported models need one).")
@click.option("--batch-size", default=8, show_default=True, type=int, help="Frames per model call.")
@click.option("--max-frames", default=0, show_default=True, type=int, help="Stop after this many frames (0: all).")
@click.option("--output", default="saliency-video.mp4", show_default=True, type=click.Path(dir_okay=False))
@_command
def video(source, camera, model_name, runtime_path, class_name, batch_size, max_frames, output):
    """Overlay video: the mask of every frame of SOURCE (or a camera) as a heat map; reports
    frames per second end to end and masks/s in the model."""
    from keras_saliency.explain.video import explain_video

    if (source is None) == (camera is None):
        raise click.UsageError("Expected a video file or --camera N (one of them).")
    model, class_names, info = _load_saliency_model(model_name)
    class_id = _class_id(class_name, [class_names, info.get("display_names")], model.num_classes)
    size = model.image_size
    if runtime_path:
        if class_id is None:
            raise click.BadParameter("an exported model has no classifier: give --class", param_hint="--class")
        model = _load_runtime(runtime_path)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    try:
        result = explain_video(model, camera if source is None else source, output, size, class_id,
                               batch_size, max_frames)
    except (ValueError, ImportError) as error:
        raise click.ClickException(str(error)) from error
    with open(os.path.splitext(output)[0] + "_config.json", "w") as f:
        json.dump({**result, "source": source, "camera": camera, "model": model_name, "runtime": runtime_path,
                   "class": class_name, "batch_size": batch_size}, f, indent=2)
    click.echo(f"{result['frames']} frames -> {output}: {result['frames_per_s']:.1f} frames/s end to end, "
               f"{result['model_masks_per_s']:.1f} masks/s in the model")


def _load_runtime(runtime_path):
    """An exported model (`deployment.load_runtime`), or one line saying why not."""
    from keras_saliency.deployment import load_runtime

    try:
        return load_runtime(runtime_path)
    except ImportError as error:
        raise UserError(f"{_first_line(error)}: {EXPORT_EXTRA}") from None
    except Exception as error:  # the runtimes reject a bad file with their own error types
        raise UserError(f"could not load the exported model {runtime_path}: {_first_line(error)}") from None


def _require_app_extra(options):
    from keras_saliency.explain.app import APP_EXTRA

    if _missing_modules(["gradio"]):
        raise UserError(f"the web demo needs gradio: {APP_EXTRA}")


@main.command()
@click.option("--model", "model_name", default="imagenet-darknet-tiny", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported; its classifier still ranks the classes).")
@click.option("--runtime", "runtime_path", type=click.Path(exists=True), help="Masks from an exported model instead (.tflite, .onnx, .engine / .plan, or a SavedModel folder: load only SavedModels you trust).")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(min=1), help="How many of the classifier's best classes are scored.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every network interface).")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option("--share/--no-share", default=False, show_default=True, help="Also a public gradio.live link (needs internet).")
@_command(before=_require_app_extra)
def serve(model_name, runtime_path, top_k, host, port, share):
    """A live web demo (Gradio): upload a photo or stream the webcam, pick the predicted class or
    any other, and see the mask over the image, the preserved and destroyed images, the
    classifier's top-k scores and the masks/s. Needs the app extra: pip install "keras-saliency[app]"."""
    from keras_saliency.explain.app import LiveExplainer, build_app, launch, wait

    model, class_names, info = _load_saliency_model(model_name)
    runtime = _load_runtime(runtime_path) if runtime_path else None
    try:
        explainer = LiveExplainer(model, info.get("display_names") or class_names, runtime=runtime, top_k=top_k)
    except ValueError as error:  # class names that do not fit the model
        raise click.ClickException(_first_line(error)) from error
    source = f"{os.path.basename(runtime_path.rstrip('/'))} (exported from {model_name})" if runtime_path else model_name
    app = build_app(explainer, title=f"keras-saliency: live masks of {source}")
    url = launch(app, host, port, share, block=False)
    public = f" and {app.share_url}" if share and getattr(app, "share_url", None) else ""
    click.echo(f"Serving {source} at {url}{public} (Ctrl+C stops)")
    wait(app)


BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
BEAM_EXTRA = 'pip install "keras-saliency[beam]"'
RUNTIME_MODULES = {".onnx": ("onnxruntime",), ".tflite": ("ai_edge_litert",)}


def _require_beam_extra(options):
    if _missing_modules(["apache_beam"]):
        raise UserError(f"bulk explanations need apache-beam: {BEAM_EXTRA}")


@main.command("explain-bulk", context_settings=dict(ignore_unknown_options=True, allow_extra_args=True))
@click.argument("glob")
@click.option("--output", default="saliency-bulk", show_default=True, help="Output folder (local, or any Beam file system: gs://bucket/run).")
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported, for its input size and class names).")
@click.option("--runtime", "runtime_path", help="An exported masker (.tflite or .onnx) to run instead of the Keras model; needs --class.")
@click.option("--class", "class_name", help="Class name or id to explain (default: each image's predicted class).")
@click.option("--format", "formats", default="png", show_default=True, help="Mask files: png, npy or png,npy (empty: rows only).")
@click.option("--rows", "row_format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--runner", type=click.Choice(BEAM_RUNNERS), default="DirectRunner", show_default=True)
@click.option("--direct-num-workers", default=1, show_default=True, type=click.IntRange(min=0), help="DirectRunner: parallel workers (0: one per CPU core).")
@click.option("--direct-running-mode", type=click.Choice(["in_memory", "multi_threading", "multi_processing"]), help="DirectRunner (default: in_memory with one worker, multi_processing with more).")
@_command(before=_require_beam_extra)
def explain_bulk(glob, output, model_name, runtime_path, class_name, formats, row_format, batch_size, runner,
                 direct_num_workers, direct_running_mode):
    """Explain every image matched by GLOB (any Beam file system) with Apache Beam: the masks
    (OUTPUT/masks/), one row per image (OUTPUT/rows.csv or .parquet) and the files that could
    not be read, with the reason (OUTPUT/dead_letters.csv). Any other option (--project,
    --region, --temp_location, --setup_file, ...) goes to Beam's pipeline options."""
    from keras_saliency.explain import bulk

    extra = list(click.get_current_context().args)
    if glob.startswith("-"):
        raise click.UsageError(f"Expected GLOB before the pipeline options. Received: {glob!r} first")
    try:  # a shipped model's metadata, or the .keras file loaded once (copied here from gs:// and the like)
        summary = bulk.summarize_model(model_name)
    except ValueError as error:
        raise UserError(_first_line(error)) from None
    class_id = _class_id(class_name, [summary.class_names, summary.display_names], summary.num_classes)
    if runtime_path:
        if class_id is None:
            raise click.BadParameter("an exported masker has no classifier: give --class", param_hint="--class")
        missing = _missing_modules(RUNTIME_MODULES.get(os.path.splitext(runtime_path)[1].lower(), ()))
        if missing:
            raise UserError(f"{runtime_path} needs {', '.join(missing)}: {EXPORT_EXTRA}")
        if "://" not in runtime_path and not os.path.isfile(runtime_path):
            raise UserError(f"Expected an exported masker file (.tflite or .onnx). Received: {runtime_path!r}, "
                            "which is not a file")
    options = [f"--runner={runner}"] + extra
    if runner == "DirectRunner":
        mode = direct_running_mode or ("in_memory" if direct_num_workers == 1 else "multi_processing")
        options += [f"--direct_num_workers={direct_num_workers}", f"--direct_running_mode={mode}"]
    try:
        report = bulk.explain_bulk(
            glob, output, model=model_name, runtime=runtime_path, class_id=class_id,
            formats=[f.strip() for f in formats.split(",") if f.strip()], rows=row_format, batch_size=batch_size,
            pipeline_options=options, summary=summary)
    except ValueError as error:
        raise click.ClickException(_first_line(error)) from error
    except ImportError as error:  # a runner's own extra, e.g. apache-beam[gcp] for Dataflow
        raise UserError(_first_line(error)) from None
    explained, dead = report["explained"], report["dead_letters"]
    rate = f", {explained / report['seconds']:.1f} images/s" if explained and report["seconds"] else ""
    click.echo(f"Explained {explained} images, {dead} dead letters ({report['dead_letters_file']}) in "
               f"{report['seconds']:.1f} s{rate}; rows: {report['rows_file']}, masks: {report['masks']}")


if __name__ == "__main__":
    main()
