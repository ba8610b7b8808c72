"""`keras-saliency explain`, `video`, `serve` and `explain-bulk`."""

import click

from keras_saliency.cli.group import BEAM_RUNNERS, MODEL_NAMES, main
from keras_saliency.cli.console import FINITE, checks, command, counted, echo, require_extra
from keras_saliency.options import install_hint


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--model",
    "model_name",
    default="cifar10",
    show_default=True,
    help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file.",
)
@click.option("--class", "class_name", help="Class name or id to explain (default: the predicted class of each image).")
@click.option("--confidence", type=FINITE, help="Class selector threshold (higher: only the most salient parts).")
@click.option(
    "--top-k",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Without --class: explain the K classes the classifier ranks highest (one row each).",
)
@click.option(
    "--save-masks",
    is_flag=True,
    help="Also write each mask as .npy at the image's original resolution (with --top-k K: K masks).",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--output", default="saliency-explanations", show_default=True, type=click.Path(file_okay=False))
@command(before=checks())
def explain(inputs, model_name, **options):
    """Saliency masks for images or folders of images (none given: the sample photos shipped
    with the package): one PNG per image (image | mask heat-map | preserved | destroyed) and a
    CSV of the explained classes."""
    from keras_saliency.explain.files import explain_inputs

    rows, files = explain_inputs(inputs, model=model_name, log=echo, **options)
    explained = len({row["path"] for row in rows})
    click.echo(f"Explained {counted(explained, 'image')} ({len(files) - explained} skipped) into {options['output']}")


@main.command()
@click.argument("source", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--camera", type=click.IntRange(min=0), help="Read from this camera index instead of a file.")
@click.option(
    "--model",
    "model_name",
    help=(
        f"A shipped model ({MODEL_NAMES}) or a masker's .keras file. Default: imagenet-darknet-tiny; with --runtime, "
        "the export's report (its size and class names)."
    ),
)
@click.option(
    "--runtime",
    "runtime_path",
    type=click.Path(exists=True),
    help=(
        "Run an exported model instead (.tflite, .onnx, .engine / .plan, or with --trust-savedmodel a SavedModel "
        "folder); needs --class."
    ),
)
@click.option(
    "--trust-savedmodel",
    is_flag=True,
    help=(
        "Let --runtime be a SavedModel folder: it runs whatever graph it holds (file and network operations "
        "included), so only one you made. .tflite / .onnx files are data only."
    ),
)
@click.option(
    "--class", "class_name", help="Class name or id (default: each frame's predicted class; exported models need one)."
)
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1), help="Frames per model call.")
@click.option(
    "--max-frames",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Stop after this many frames (0: all).",
)
@click.option("--output", default="saliency-video.mp4", show_default=True, type=click.Path(dir_okay=False))
@command(before=checks())
def video(model_name, runtime_path, **options):
    """Overlay video: the mask of every frame of SOURCE (or a camera) as a heat map; reports
    frames per second end to end and masks/s in the model."""
    from keras_saliency.explain.video import explain_video_file

    result = explain_video_file(model=model_name, runtime=runtime_path, **options)
    click.echo(
        f"{result['frames']} frames -> {options['output']}: {result['frames_per_s']:.1f} frames/s end to "
        f"end, {result['model_masks_per_s']:.1f} masks/s in the model"
    )


@main.command()
@click.option(
    "--model",
    "model_name",
    default="imagenet-darknet-tiny",
    show_default=True,
    help=(
        f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported; its "
        "classifier still ranks the classes)."
    ),
)
@click.option(
    "--runtime",
    "runtime_path",
    type=click.Path(exists=True),
    help=(
        "Masks from an exported model instead (.tflite, .onnx, .engine / .plan, or with --trust-savedmodel a "
        "SavedModel folder)."
    ),
)
@click.option(
    "--trust-savedmodel",
    is_flag=True,
    help=(
        "Let --runtime be a SavedModel folder: it runs whatever graph it holds (file and network operations "
        "included), so only one you made. .tflite / .onnx files are data only."
    ),
)
@click.option(
    "--top-k",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many of the classifier's best classes are scored.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every network interface)."
)
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--share/--no-share", default=False, show_default=True, help="Also a public gradio.live link (needs internet)."
)
@command(before=checks(require_extra("gradio", "the web demo needs gradio: " + install_hint("app"))))
def serve(model_name, runtime_path, **options):
    """A live web demo (Gradio): upload a photo or stream the webcam, pick the predicted class or
    any other, and see the mask over the image, the preserved and destroyed images, the
    classifier's top-k scores and the masks/s. Needs the app extra: pip install "keras-saliency[app]"."""
    from keras_saliency.explain.app import serve as serve_app

    serve_app(model_name, runtime_path, log=echo, **options)


@main.command("explain-bulk", context_settings=dict(ignore_unknown_options=True, allow_extra_args=True))
@click.argument("glob")
@click.option(
    "--output",
    default="saliency-bulk",
    show_default=True,
    help="Output folder (local, or any Beam file system: gs://bucket/run).",
)
@click.option(
    "--model",
    "model_name",
    default="cifar10",
    show_default=True,
    help=(
        f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (with --runtime: the model that was exported, for "
        "its input size and class names)."
    ),
)
@click.option(
    "--runtime",
    "runtime_path",
    help="An exported masker (.tflite or .onnx) to run instead of the Keras model; needs --class.",
)
@click.option("--class", "class_name", help="Class name or id to explain (default: each image's predicted class).")
@click.option(
    "--format", "formats", default="png", show_default=True, help="Mask files: png, npy or png,npy (empty: rows only)."
)
@click.option("--rows", "row_format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--runner", type=click.Choice(BEAM_RUNNERS), default="DirectRunner", show_default=True)
@click.option(
    "--direct-num-workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="DirectRunner: parallel workers (0: one per CPU core).",
)
@click.option(
    "--direct-running-mode",
    type=click.Choice(["in_memory", "multi_threading", "multi_processing"]),
    help="DirectRunner (default: in_memory with one worker, multi_processing with more).",
)
@command(before=checks(require_extra("apache_beam", "bulk explanations need apache-beam: " + install_hint("beam"))))
def explain_bulk(glob, model_name, runtime_path, row_format, formats, **options):
    """Explain every image matched by GLOB (any Beam file system) with Apache Beam: the masks
    (OUTPUT/masks/), one row per image (OUTPUT/rows.csv or .parquet) and the files that could
    not be read, with the reason (OUTPUT/dead_letters.csv). Any other option (--project,
    --region, --temp_location, --setup_file, ...) goes to Beam's pipeline options."""
    from keras_saliency.explain.bulk import run_bulk

    report = run_bulk(glob, model=model_name, runtime=runtime_path, rows=row_format, formats=formats,
                      extra_options=click.get_current_context().args, **options)
    explained, seconds, dead = report["explained"], report["seconds"], report["dead_letters"]
    if not explained:
        raise click.ClickException(f"no image explained: {dead} dead letters (see {report['dead_letters_file']})"
                                   if dead else f"{glob} matches no file")
    rate = f", {explained / seconds:.1f} images/s" if explained and seconds else ""
    click.echo(f"Explained {counted(explained, 'image')}, {counted(dead, 'dead letter')} "
               f"({report['dead_letters_file']}) in {seconds:.1f} s{rate}; rows: {report['rows_file']}, "
               f"masks: {report['masks']}")
