"""`keras-saliency`: a thin click layer over the library.

Each command parses its flags, calls one library function and prints the result; how commands
run in a terminal (TensorFlow loaded quietly, one-line errors) lives in `keras_saliency.console`.
Only click and the standard library load with the command, so `--help` and `--version` are
instant."""


import click

from keras_saliency import pretrained
from keras_saliency.console import command, setup_logging
from keras_saliency.options import missing_modules
from keras_saliency.errors import CommandError

DATASETS = ("cifar10", "imagenet2012", "imagenette", "folder")  # keras_saliency.training.run.DATASETS
METHOD_NAMES = ("masker", "gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion", "rise",
                "optimisation", "centre_box", "full_image", "lrp_epsilon_gamma_box",
                "lrp_epsilon_plus_flat")  # keras_saliency.methods.METHODS
DELETION_SUBSTRATES = ("black", "grey", "blur")  # keras_saliency.evaluation.metrics.DELETION_SUBSTRATES
MODEL_NAMES = ", ".join(pretrained.available())  # TensorFlow-free: the shipped files' names
PRESET_NAMES = ("gated-fpn", "paper")  # keras_saliency.models.presets.MASKER_PRESETS, the default first
BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")  # explain.bulk.BEAM_RUNNERS


@click.group()
@click.version_option(package_name="keras-saliency")
def main():
    """Real-time saliency masks for Keras image classifiers (Dabkowski & Gal, 2017)."""
    setup_logging()


@main.command()
@click.option("--output", default="saliency-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="Fewer images and epochs (a smoke run, lower hit rate).")
@click.option("--seed", default=0, show_default=True)
@command
def demo(output, quick, seed):
    """Train a masker on a built-in synthetic task and write overlay PNGs (no download)."""
    from keras_saliency.training.demo import demo_config, describe_results, run_demo

    config = demo_config(quick, seed)
    click.echo(f"Training a tiny classifier, then a masker, on {config.train_images} synthetic images "
               "(the class is the stripe pattern of a small patch)...")
    results, _, _ = run_demo(output, config, verbose=2)
    click.echo(describe_results(results))


@main.command()
@click.option("--dataset", type=click.Choice(DATASETS), default="cifar10", show_default=True)
@click.option("--data-dir", type=click.Path(), help="Image folder (folder), manual download dir (imagenet2012) or tensorflow-datasets dir.")
@click.option("--classifier", "classifier_name", help="Backbone name (resnet50, mobilenet_v2, efficientnet_b0) or a .keras file. Default: train a small CIFAR-style classifier first.")
@click.option("--classifier-preprocessing", type=click.Choice(["none", "unit", "symmetric", "caffe", "torch"]), help="How [0, 255] pixels become the classifier's input (default: read from the classifier).")
@click.option("--encoder", default="classifier", show_default=True, help="'classifier' (tap the classifier's own layers) or a backbone name.")
@click.option("--tap-layers", help="Comma-separated layer names of the classifier to use as features, shallow to deep.")
@click.option("--epochs", default=10, show_default=True, type=int)
@click.option("--classifier-epochs", default=15, show_default=True, type=int, help="When the small classifier is trained first.")
@click.option("--steps-per-epoch", type=int, help="Limit each epoch (default: the whole dataset).")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--image-size", type=int, help="Default: the --classifier's input size, else 32 for cifar10 and folders, 224 otherwise.")
@click.option("--learning-rate", default=1e-3, show_default=True, type=float)
@click.option("--validation-split", default=0.1, show_default=True, type=float, help="Held out from a folder (seeded, per class).")
@click.option("--mixed-precision", is_flag=True, help="mixed_float16 policy (for GPUs).")
@click.option("--weights", type=click.Choice(["imagenet", "none"]), default="imagenet", show_default=True, help="Keras Applications weights of a named --classifier / --encoder (imagenet: downloaded; none: random, for dry runs).")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker", "tpu"]), default="default", show_default=True, help="tf.distribute strategy: mirrored (all GPUs here), multi-worker (TF_CONFIG), tpu.")
@click.option("--schedule", type=click.Choice(["auto", "single", "two-phase"]), default="auto", show_default=True, help="two-phase (the paper's: class selector first, then everything) is the default for imagenet2012, single otherwise.")
@click.option("--selector-epochs", default=1, show_default=True, type=int, help="Phase 1 of the two-phase schedule.")
@click.option("--dry-run", is_flag=True, help="Build everything and train a few steps (--steps-per-epoch, default 2) per phase, 1 epoch; nothing is saved.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), help=f"Masker preset (default: {PRESET_NAMES[0]} for a --classifier without --tap-layers, the design read from the classifier).")
@click.option("--crop-scale", type=float, help="Smallest area fraction of the training images' random crops (0: none; default: the preset's).")
@click.option("--objective", type=click.Choice(["code", "paper"]), help="Default: the preset's, else code.")
@click.option("--objective-option", "objective_options", multiple=True, help="KEY=VALUE: a field of the objective (keras_saliency.models.config.SaliencyConfig), e.g. --objective-option area_weight=10.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--output", type=click.Path(file_okay=False), help="Run folder (default: saliency-runs/DATASET-YYYYmmdd-HHMMSS); an existing one is resumed or continued, never overwritten.")
@click.option("--tensorboard", type=click.Path(file_okay=False), help="TensorBoard log folder: the losses (keras.callbacks.TensorBoard) and, after every epoch, the masks of 8 fixed validation images (run 'masks'). View with: tensorboard --logdir DIR")
@command
def train(classifier_name, **options):
    """Train a masker against a frozen classifier. Before training, a few steps are timed and
    an estimate of the run's length on this machine is printed."""
    from keras_saliency.options import parse_assignments as assignments
    from keras_saliency.training import TrainSpec, train_masker
    options["objective_options"] = assignments(options["objective_options"], "objective_options") or None
    train_masker(TrainSpec(classifier=classifier_name, **options), log=click.echo)


@main.command("convert-boxes")
@click.argument("source", type=click.Path(exists=True))
@click.option("--extension", default=".JPEG", show_default=True, help="Added to image names without one.")
@click.option("--output", default="boxes.csv", show_default=True, type=click.Path(dir_okay=False))
@command
def convert_boxes(source, extension, output):
    """ImageNet box annotations (a folder of ILSVRC .xml files, one .xml, or LOC_val_solution.csv)
    to boxes.csv (path,xmin,ymin,xmax,ymax,label) for `evaluate --boxes`."""
    from keras_saliency.evaluation import imagenet_boxes

    try:
        count = imagenet_boxes.convert(source, output, extension)
    except ValueError as error:  # (an OSError: one line from `command`)
        raise CommandError(str(error)) from error
    click.echo(f"Wrote {count} boxes to {output}")


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file.")
@click.option("--class", "class_name", help="Class name or id to explain (default: the predicted class of each image).")
@click.option("--confidence", type=float, help="Class selector threshold (higher: only the most salient parts).")
@click.option("--top-k", default=1, show_default=True, type=int, help="Without --class: explain the K classes the classifier ranks highest (one row each).")
@click.option("--save-masks", is_flag=True, help="Also write each mask as .npy at the image's original resolution (with --top-k K: K masks).")
@click.option("--batch-size", default=32, show_default=True, type=int)
@click.option("--output", default="saliency-explanations", show_default=True, type=click.Path(file_okay=False))
@command
def explain(inputs, model_name, **options):
    """Saliency masks for images or folders of images (none given: the sample photos shipped
    with the package): one PNG per image (image | mask heat-map | preserved | destroyed) and a
    CSV of the explained classes."""
    from keras_saliency.explain.files import explain_inputs

    rows, files = explain_inputs(inputs, model=model_name, log=click.echo, **options)
    explained = len({row["path"] for row in rows})
    click.echo(f"Explained {explained} images ({len(files) - explained} skipped) into {options['output']}")


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
@click.option("--scale-corrected", is_flag=True, help="Also report the saliency metric corrected for what magnification alone costs the classifier.")
@click.option("--deletion-substrate", type=click.Choice(DELETION_SUBSTRATES), default="black", show_default=True, help="What removed pixels become in the deletion curve (black: the RISE protocol).")
@click.option("--no-class-correlation", is_flag=True, help="Skip the correlation of the maps for the classifier's top-1 and top-2 classes.")
@click.option("--sanity", is_flag=True, help="Also run the sanity checks (cascading randomisation of the classifier, and of the masker's own layers): sanity.csv, sanity.md, sanity.png.")
@click.option("--sanity-limit", default=16, show_default=True, type=int, help="Images of the sanity checks (0: all).")
@click.option("--output", default="saliency-evaluation", show_default=True, type=click.Path(file_okay=False))
@command
def evaluate(model_name, **options):
    """Compare the learned masker with classic saliency methods on the same classifier (saliency
    metrics, localisation error, MaxBoxAccV2, pointing game, mass in the boxes, mean of the map,
    top-1/top-2 map correlation, deletion / insertion AUC, ROAD, masks/s) in CSV, Markdown and a PNG
    grid; with --sanity, the sanity checks of every method."""
    from keras_saliency.evaluation import results_table
    from keras_saliency.evaluation.evaluate import evaluate_folder

    results, sanity = evaluate_folder(model=model_name, log=click.echo, **options)
    click.echo(results_table(results))
    click.echo(f"Saved results.csv, results.md, examples.png and evaluation_config.json in {options['output']}")
    if sanity:
        click.echo(sanity)
        click.echo(f"Saved sanity.csv, sanity.md, sanity.png and sanity_curves.png in {options['output']}")


def _check_export(options):
    from keras_saliency.deployment.export_files import check_export

    check_export(options["model_name"], options["export_format"], options["quantize"], options["trt"],
                 options["output"], options["overwrite"])


@main.command("export", help=f"""Export the masker MODEL (a shipped model, listed below, or a masker's
.keras file) and verify the export against the Keras model: max / mean difference, rank
correlation, top-20% IoU, printed and saved as OUTPUT.report.json. ONNX, TFLite and --trt need
the export extra: pip install 'keras-saliency[export]'. Exit status: 0 when the export passes
its parity goals, 2 when it is refused or TensorRT is missing, 3 when the verification fails
(unless --allow-failed-verification).

\b
Shipped models: {MODEL_NAMES}""")
@click.argument("model_name", metavar="MODEL")
@click.option("--format", "export_format", type=click.Choice(["saved_model", "tflite", "onnx"]), default="onnx", show_default=True)
@click.option("--quantize", type=click.Choice(["float32", "float16", "dynamic", "int8"]), default="float32", show_default=True, help="tflite: all four; onnx / --trt: float32, float16, int8 (int8: Q/DQ ONNX, calibrated).")
@click.option("--trt", is_flag=True, help="Also build a TensorRT engine from the ONNX model (needs tensorrt and a GPU; exits 2 without them, after writing the ONNX model). --output may name the engine (.engine or .plan): the ONNX model goes next to it.")
@click.option("--calibration-data", type=click.Path(exists=True, file_okay=False), help="Folder of real images: int8 calibration, and held-out images for the verification.")
@click.option("--calibration-images", default=200, show_default=True, type=int)
@click.option("--verification-images", default=100, show_default=True, type=int)
@click.option("--input-dtype", type=click.Choice(["float32", "uint8"]), default="float32", show_default=True, help="The `image` input's type.")
@click.option("--int8-float", type=click.Choice(["parity", "speed"]), default="parity", show_default=True, help="int8 TFLite of a gated masker, the layers kept in float: parity (the gate, the decoder and the encoder up to its first feature map) or speed (the gate and the mask head only: on the ImageNet masker 2.3x faster, its masks less like the float ones, so the verification fails and needs --allow-failed-verification).")
@click.option("--max-batch-size", default=32, show_default=True, type=int, help="TensorRT: largest batch of the engine's profile.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace existing output files (or write a SavedModel into a folder that is not empty).")
@click.option("--allow-failed-verification", is_flag=True, help="Exit 0 even when the export misses its parity goals (default: exit status 3).")
@click.option("--output", type=click.Path(), help="A folder (saved_model), a .tflite or .onnx file, or with --trt an .engine / .plan file. Default: saliency-exports/MODEL.onnx (-saved_model, .tflite, .engine).")
@command(before=_check_export)
def export_command(model_name, export_format, **options):
    from keras_saliency.deployment.export_files import export_file

    export_file(model_name, export_format, log=click.echo, **options)


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
@command
def benchmark(model_name, **options):
    """Masks/s and latency of the masker in Keras, SavedModel, TFLite (fp32 / fp16 / int8) and
    ONNX Runtime, with its bare encoder in the same runtime and Grad-CAM on the same classifier
    measured in the same run. Writes benchmark.csv, benchmark.md and benchmark_config.json."""
    from keras_saliency.deployment.benchmark import benchmark_table, run_benchmark

    rows = run_benchmark(model_name, log=click.echo, **options)
    click.echo(benchmark_table(rows))
    click.echo(f"Saved benchmark.csv, benchmark.md and benchmark_config.json in {options['output']}")


@main.command()
@click.argument("source", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--camera", type=int, help="Read from this camera index instead of a file.")
@click.option("--model", "model_name", default="cifar10", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported, for its image size and class names).")
@click.option("--runtime", "runtime_path", type=click.Path(exists=True), help="Run an exported model instead (.tflite, .onnx, .engine / .plan, or a SavedModel folder); needs --class. A SavedModel runs whatever graph it holds (file and network operations included): load only SavedModels you trust; prefer .tflite / .onnx, which are data only.")
@click.option("--class", "class_name", help="Class name or id (default: each frame's predicted class; exported models need one).")
@click.option("--batch-size", default=8, show_default=True, type=int, help="Frames per model call.")
@click.option("--max-frames", default=0, show_default=True, type=int, help="Stop after this many frames (0: all).")
@click.option("--output", default="saliency-video.mp4", show_default=True, type=click.Path(dir_okay=False))
@command
def video(model_name, runtime_path, **options):
    """Overlay video: the mask of every frame of SOURCE (or a camera) as a heat map; reports
    frames per second end to end and masks/s in the model."""
    from keras_saliency.explain.video import explain_video_file

    result = explain_video_file(model=model_name, runtime=runtime_path, **options)
    click.echo(f"{result['frames']} frames -> {options['output']}: {result['frames_per_s']:.1f} frames/s end to "
               f"end, {result['model_masks_per_s']:.1f} masks/s in the model")


def _require_extra(module, message):
    def check(options):
        if missing_modules([module]):
            raise CommandError(message, kind="refused")

    return check


@main.command()
@click.option("--model", "model_name", default="imagenet-darknet-tiny", show_default=True, help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported; its classifier still ranks the classes).")
@click.option("--runtime", "runtime_path", type=click.Path(exists=True), help="Masks from an exported model instead (.tflite, .onnx, .engine / .plan, or a SavedModel folder: load only SavedModels you trust).")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(min=1), help="How many of the classifier's best classes are scored.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every network interface).")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option("--share/--no-share", default=False, show_default=True, help="Also a public gradio.live link (needs internet).")
@command(before=_require_extra("gradio", 'the web demo needs gradio: pip install "keras-saliency[app]"'))
def serve(model_name, runtime_path, **options):
    """A live web demo (Gradio): upload a photo or stream the webcam, pick the predicted class or
    any other, and see the mask over the image, the preserved and destroyed images, the
    classifier's top-k scores and the masks/s. Needs the app extra: pip install "keras-saliency[app]"."""
    from keras_saliency.explain.app import serve as serve_app

    serve_app(model_name, runtime_path, log=click.echo, **options)


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
@command(before=_require_extra("apache_beam", 'bulk explanations need apache-beam: pip install "keras-saliency[beam]"'))
def explain_bulk(glob, model_name, runtime_path, row_format, formats, **options):
    """Explain every image matched by GLOB (any Beam file system) with Apache Beam: the masks
    (OUTPUT/masks/), one row per image (OUTPUT/rows.csv or .parquet) and the files that could
    not be read, with the reason (OUTPUT/dead_letters.csv). Any other option (--project,
    --region, --temp_location, --setup_file, ...) goes to Beam's pipeline options."""
    from keras_saliency.explain.bulk import run_bulk

    report = run_bulk(glob, model=model_name, runtime=runtime_path, rows=row_format, formats=formats,
                      extra_options=click.get_current_context().args, **options)
    explained, seconds = report["explained"], report["seconds"]
    rate = f", {explained / seconds:.1f} images/s" if explained and seconds else ""
    click.echo(f"Explained {explained} images, {report['dead_letters']} dead letters "
               f"({report['dead_letters_file']}) in {seconds:.1f} s{rate}; rows: {report['rows_file']}, "
               f"masks: {report['masks']}")


if __name__ == "__main__":
    main()
