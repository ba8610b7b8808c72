"""`keras-saliency export` and `keras-saliency benchmark`."""

import click

from keras_saliency.cli.group import MODEL_NAMES, main
from keras_saliency.cli.console import checks, command, echo


def _check_export(options):
    from keras_saliency.deployment.export_files import check_export

    check_export(
        options["model_name"],
        options["export_format"],
        options["quantize"],
        options["trt"],
        options["output"],
        options["overwrite"],
        options["calibration_data"],
    )


@main.command(
    "export",
    help=f"""Export the masker MODEL (a shipped model, listed below, or a masker's
.keras file) and verify the export against the Keras model: max / mean difference, rank
correlation, top-20% IoU, printed and saved as OUTPUT.report.json. ONNX, TFLite and --trt need
the export extra: pip install 'keras-saliency[export]'. Exit status: 0 when the export passes
its parity goals, 2 when it is refused or TensorRT is missing, 3 when the verification fails
(unless --allow-failed-verification).

\b
Shipped models: {MODEL_NAMES}""",
)
@click.argument("model_name", metavar="MODEL")
@click.option(
    "--format", "export_format", type=click.Choice(["saved_model", "tflite", "onnx"]), default="onnx", show_default=True
)
@click.option(
    "--quantize",
    type=click.Choice(["float32", "float16", "dynamic", "int8"]),
    default="float32",
    show_default=True,
    help="tflite: all four; onnx / --trt: float32, float16, int8 (int8: Q/DQ ONNX, calibrated).",
)
@click.option(
    "--trt",
    is_flag=True,
    help=(
        "Also build a TensorRT engine from the ONNX model (needs tensorrt and a GPU; exits 2 without them, after "
        "writing the ONNX model). --output may name the engine (.engine or .plan): the ONNX model goes next to it."
    ),
)
@click.option(
    "--calibration-data",
    type=click.Path(exists=True, file_okay=False),
    help="Folder of real images: int8 calibration, and held-out images for the verification.",
)
@click.option("--calibration-images", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--verification-images", default=100, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--input-dtype",
    type=click.Choice(["float32", "uint8"]),
    default="float32",
    show_default=True,
    help="The `image` input's type.",
)
@click.option(
    "--classify/--no-classify",
    default=None,
    help=(
        "One graph that classifies and explains: outputs the classifier's logits and the class explained as well "
        "(class id -1: its top-1 class), the trunk run once. Default: when the masker's class gate reproduces its "
        "classifier's logits (checked on the verification images)."
    ),
)
@click.option(
    "--int8-float",
    type=click.Choice(["auto", "speed", "parity"]),
    default="auto",
    show_default=True,
    help=(
        "int8 TFLite of a gated masker, the layers kept in float: speed (the gate and the mask head), parity (the "
        "gate, the decoder and the encoder up to its first feature map; slower), or auto: the fastest whose masks pass "
        "the verification of speed, speed with the encoder's first 1, 2, 3 convolution blocks, and parity."
    ),
)
@click.option(
    "--int8-float-through",
    metavar="LAYER",
    help=(
        "int8 TFLite: also keep this layer of the masker's encoder and the layers before it in float (e.g. "
        "leaky_re_lu_3 for the Darknet masker: IoU 0.90 at 3.0x Grad-CAM, between speed and parity). With auto: "
        "tries speed, then parity, both through this layer."
    ),
)
@click.option(
    "--int8-ranges",
    type=click.Choice(["auto", "mean", "minmax"]),
    default="auto",
    show_default=True,
    help=(
        "int8 TFLite activation ranges: mean (each calibration image's extremes, averaged: outliers do not stretch "
        "the int8 grid), minmax (TFLite's own: the extremes over all calibration images), or auto: whichever brings "
        "the verification's figures nearer their goals."
    ),
)
@click.option(
    "--max-batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="TensorRT: largest batch of the engine's profile.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace existing output files (or write a SavedModel into a folder that is not empty).",
)
@click.option(
    "--allow-failed-verification",
    is_flag=True,
    help="Exit 0 even when the export misses its parity goals (default: exit status 3).",
)
@click.option(
    "--output",
    type=click.Path(),
    help=(
        "A folder (saved_model), a .tflite or .onnx file, or with --trt an .engine / .plan file. Default: "
        "saliency-exports/MODEL.onnx (-saved_model, .tflite, .engine)."
    ),
)
@command(before=checks(_check_export))
def export_command(model_name, export_format, **options):
    from keras_saliency.deployment.export_files import export_file

    export_file(model_name, export_format, log=echo, **options)


@main.command()
@click.option(
    "--model",
    "model_name",
    help=(
        f"A shipped model ({MODEL_NAMES}) or a masker's .keras file (default: an untrained masker on --encoder; speed "
        "does not depend on the weights)."
    ),
)
@click.option(
    "--encoder",
    default="mobilenet_v2",
    show_default=True,
    type=click.Choice(["mobilenet_v2", "resnet50", "efficientnet_b0"]),
    help="Without --model: a Keras Applications classifier (weights=None) whose own layers are the encoder.",
)
@click.option("--image-size", default=224, show_default=True, type=click.IntRange(min=8))
@click.option(
    "--decoder-filters",
    default="32,16,8",
    show_default=True,
    help="Without --model: the decoder's widths (the real-time preset; the paper-size decoder is 256,128,64).",
)
@click.option(
    "--mask-stride",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Without --model: image side / mask side.",
)
@click.option("--batch-sizes", default="1,32", show_default=True)
@click.option(
    "--backends",
    default=",".join(["keras", "saved_model", "tflite_float32", "tflite_float16", "tflite_int8", "onnx"]),
    show_default=True,
    help=(
        "Comma-separated: keras, keras_xla, saved_model, tflite_float32, tflite_float16, tflite_dynamic, tflite_int8, "
        "onnx."
    ),
)
@click.option(
    "--seconds",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Timing per backend, batch size and model part.",
)
@click.option(
    "--calibration-data",
    type=click.Path(exists=True, file_okay=False),
    help="Real images for the int8 calibration and the timed batches (default: random pixels).",
)
@click.option("--no-gradcam", is_flag=True, help="Skip the Grad-CAM reference.")
@click.option("--output", default="saliency-benchmark", show_default=True, type=click.Path(file_okay=False))
@command(before=checks())
def benchmark(model_name, **options):
    """Masks/s and latency of the masker in Keras, SavedModel, TFLite (fp32 / fp16 / int8) and
    ONNX Runtime, with its bare encoder in the same runtime and Grad-CAM on the same classifier
    measured in the same run. Writes benchmark.csv, benchmark.md and benchmark_config.json."""
    from keras_saliency.deployment.benchmark import benchmark_table, run_benchmark

    rows = run_benchmark(model_name, log=echo, **options)
    click.echo(benchmark_table(rows))
    click.echo(f"Saved benchmark.csv, benchmark.md and benchmark_config.json in {options['output']}")
