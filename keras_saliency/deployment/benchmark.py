"""Masks/s of the masker in every runtime, against the bare encoder in the same runtime and
Grad-CAM on the same classifier, measured in one run (these machines are noisy: ratios
measured side by side mean more than absolute rates).

Backends: "keras" (a traced `tf.function`, eager off), "keras_xla" (`jit_compile=True`),
"saved_model", "tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8", "onnx".
"""

import os
import statistics
import tempfile
import time

import numpy as np

from keras_saliency.reports import tables
from keras_saliency.deployment import converters
from keras_saliency.deployment.runtimes import load_runtime
from keras_saliency.deployment.serving import as_masker, serving_function

BACKENDS = ("keras", "keras_xla", "saved_model", "tflite_float32", "tflite_float16",
            "tflite_dynamic", "tflite_int8", "onnx")
DEFAULT_BACKENDS = ("keras", "saved_model", "tflite_float32", "tflite_float16", "tflite_int8", "onnx")


def check_backends(backends):
    """Returns `backends` as a list; raises `ValueError` naming any not in `BACKENDS`.

    Args:
        backends: backend names.

    Example:

    >>> check_backends(("keras", "onnx"))
    ['keras', 'onnx']
    """
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"Expected backends in {BACKENDS}. Received unknown: {unknown}")
    return list(backends)


class KerasFunction:
    """A traced serving function called like the runtimes.

    Args:
        masker: the `Masker`.
        part: "masker", or "encoder" (its feature maps only).
        jit_compile: compile the function with XLA.

    Example:

    ```python
    run = KerasFunction(masker, "masker", jit_compile=False)
    outputs = run(images, class_ids)  # {"mask", "exists"}
    ```
    """

    def __init__(self, masker, part, jit_compile):
        self.function = serving_function(masker, part=part, jit_compile=jit_compile)

    def __call__(self, images, class_ids):
        return self.function(image=images, class_id=class_ids)


def make_runner(masker, backend, part, workdir, calibration_images, calibration_class_ids):
    """`(images, class_ids) -> outputs` for `backend`: the masker or its bare encoder (`part`).

    Args:
        masker: the `Masker`.
        backend: one of `BACKENDS`.
        part: "masker" or "encoder".
        workdir: the folder of the exported files.
        calibration_images: images that calibrate "tflite_int8", `(N, S, S, 3)` in [0, 255].
        calibration_class_ids: `(N,)` classes of the calibration images.

    Example:

    ```python
    run = make_runner(masker, "tflite_float16", "masker", tmp, images, class_ids)
    outputs = run(images[:8], class_ids[:8])
    ```
    """
    if backend in ("keras", "keras_xla"):
        return KerasFunction(masker, part, backend == "keras_xla")
    path = os.path.join(workdir, f"{part}_{backend}")
    if backend == "saved_model":
        converters.export_saved_model(masker, path, part=part)
    elif backend.startswith("tflite_"):
        path += ".tflite"
        converters.export_tflite(masker, path, backend[len("tflite_"):], calibration_images,
                                 calibration_class_ids, part=part)
    else:
        path += ".onnx"
        converters.export_onnx(masker, path, part=part)
    options = {"num_threads": os.cpu_count()} if backend.startswith("tflite_") else {}
    return load_runtime(path, **options).run_batch  # run_batch: one call per batch, unsplit


def time_rate(function, images, class_ids, seconds):
    """Images per second of `function(images, class_ids)` over at least `seconds` (after one
    warm-up call) and at least 3 calls.

    Args:
        function: called as `function(images, class_ids)`.
        images: one batch of images.
        class_ids: its class ids.
        seconds: the least timed duration, in seconds.

    Example:

    ```python
    rate = time_rate(run, images, class_ids, seconds=2.0)  # images per second
    ```
    """
    function(images, class_ids)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        function(images, class_ids)
        calls += 1
    return calls * len(images) / (time.perf_counter() - start)


def paired_rates(first, second, images, class_ids, seconds, rounds=3):
    """Median rates of two functions timed in alternation (`rounds` each).

    Args:
        first: the first function, called as `first(images, class_ids)`.
        second: the second function.
        images: one batch of images.
        class_ids: its class ids.
        seconds: the time of each function, in seconds, split over the rounds.
        rounds: alternations (default 3).

    Example:

    ```python
    masker_rate, encoder_rate = paired_rates(masker_run, encoder_run, images, class_ids, 3.0)
    ```
    """
    a, b = [], []
    for _ in range(rounds):
        a.append(time_rate(first, images, class_ids, seconds / rounds))
        b.append(time_rate(second, images, class_ids, seconds / rounds))
    return statistics.median(a), statistics.median(b)


def benchmark_masker(model, batch_sizes=(1, 32), backends=DEFAULT_BACKENDS, seconds=3.0,
                     calibration_images=None, calibration_class_ids=None, gradcam=True,
                     seed=0, progress=print):
    """Rows of `{backend, batch_size, masks_per_s, ms_per_image, encoder_per_s,
    masker_vs_encoder, masker_vs_gradcam}`; Grad-CAM (Keras, same classifier, same images)
    gives its own rows. `model`: a SaliencyModel (Grad-CAM needs its classifier) or a Masker.

    Args:
        model: the `SaliencyModel` or `Masker`.
        batch_sizes: the batch sizes timed (default 1 and 32).
        backends: names in `BACKENDS` (default `DEFAULT_BACKENDS`).
        seconds: time per measurement, in seconds (default 3.0).
        calibration_images: images to time and to calibrate int8 with, `(N, S, S, 3)` in
            [0, 255] (default: 32 random images).
        calibration_class_ids: `(N,)` their classes (default: random).
        gradcam: also time Grad-CAM (default True; needs a `SaliencyModel`).
        seed: seed of the random images and batches (default 0).
        progress: called with one line per measurement (default `print`).

    Example:

    ```python
    rows = benchmark_masker(model, batch_sizes=(1, 32), backends=("keras", "onnx"))
    print(benchmark_table(rows))
    ```
    """
    from keras_saliency.models.model import SaliencyModel

    backends = check_backends(backends)
    masker = as_masker(model)
    size = masker.image_size
    rng = np.random.default_rng(seed)
    if calibration_images is None:
        calibration_images = rng.uniform(0, 255, (32, size, size, 3)).astype(np.float32)
    if calibration_class_ids is None:
        calibration_class_ids = rng.integers(0, masker.num_classes, len(calibration_images)).astype(np.int32)
    batches = {}
    for batch_size in batch_sizes:
        index = rng.integers(0, len(calibration_images), batch_size)
        batches[batch_size] = (np.asarray(calibration_images[index], np.float32),
                               np.asarray(calibration_class_ids[index], np.int32))
    rows = []
    gradcam_rates = {}
    if gradcam and isinstance(model, SaliencyModel):
        from keras_saliency.methods import build_method

        method = build_method("gradcam", model, batch_size=max(batch_sizes))
        for batch_size, (images, class_ids) in batches.items():
            rate = time_rate(lambda x, c: method(x, c), images, class_ids, seconds)
            gradcam_rates[batch_size] = rate
            rows.append({"backend": "gradcam (keras)", "batch_size": batch_size, "masks_per_s": rate,
                         "ms_per_image": 1000 / rate})
            progress(f"gradcam batch {batch_size}: {rate:.1f} maps/s")
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            masker_run = make_runner(masker, backend, "masker", workdir, calibration_images, calibration_class_ids)
            encoder_run = make_runner(masker, backend, "encoder", workdir, calibration_images, calibration_class_ids)
            for batch_size, (images, class_ids) in batches.items():
                rate, encoder_rate = paired_rates(masker_run, encoder_run, images, class_ids, seconds)
                row = {"backend": backend, "batch_size": batch_size, "masks_per_s": rate,
                       "ms_per_image": 1000 / rate, "encoder_per_s": encoder_rate,
                       "masker_vs_encoder": rate / encoder_rate}
                if batch_size in gradcam_rates:
                    row["masker_vs_gradcam"] = rate / gradcam_rates[batch_size]
                rows.append(row)
                progress(f"{backend} batch {batch_size}: {rate:.1f} masks/s, encoder {encoder_rate:.1f}/s, "
                         f"ratio {rate / encoder_rate:.2f}")
    return rows


COLUMNS = (
    ("backend", "backend", "{}"),
    ("batch_size", "batch", "{}"),
    ("masks_per_s", "masks/s", "{:.1f}"),
    ("ms_per_image", "ms/image", "{:.2f}"),
    ("encoder_per_s", "bare encoder img/s", "{:.1f}"),
    ("masker_vs_encoder", "masker / encoder speed", "{:.2f}"),
    ("masker_vs_gradcam", "masker / Grad-CAM speed", "{:.2f}"),
)


def benchmark_table(rows):
    """The benchmark's rows as a Markdown table (`COLUMNS`).

    Args:
        rows: the rows of `benchmark_masker`.

    Example:

    ```python
    print(benchmark_table(benchmark_masker(model)))
    ```
    """
    return tables.markdown_table(rows, COLUMNS)


INT8_INSTRUCTIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def machine_description():
    """The machine a speed was measured on: core count, platform, Python, the CPU's model name
    and which of its instruction sets speed up int8 (`INT8_INSTRUCTIONS`; int8 LiteRT gains far
    more over float where the CPU has VNNI), read from /proc/cpuinfo where there is one.

    Example:

    ```python
    machine_description()  # {"cpus": 2, "cpu": "Intel(R) Xeon(R) ...", "int8_instructions": ["avx2", ...], ...}
    ```
    """
    import platform

    described = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return described
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {**described, "cpu": fields.get("model name", platform.processor()),
            "int8_instructions": [name for name in INT8_INSTRUCTIONS if name in flags]}


def write_benchmark(output, rows, config):
    """Writes `benchmark.csv`, `benchmark.md` and `benchmark_config.json` to `output`.

    Args:
        output: the folder (created).
        rows: the rows of `benchmark_masker`.
        config: the benchmark's settings, written as JSON.

    Example:

    ```python
    write_benchmark("bench", rows, {"backends": ["keras", "onnx"], "seconds": 3.0})
    ```
    """
    import json

    os.makedirs(output, exist_ok=True)
    tables.write_csv(os.path.join(output, "benchmark.csv"), rows, COLUMNS)
    with open(os.path.join(output, "benchmark.md"), "w") as f:
        f.write(benchmark_table(rows) + "\n")
    with open(os.path.join(output, "benchmark_config.json"), "w") as f:
        json.dump(config, f, indent=2, default=str)


def run_benchmark(model=None, encoder="mobilenet_v2", image_size=224, decoder_filters="32,16,8", mask_stride=8,
                  batch_sizes="1,32", backends=",".join(DEFAULT_BACKENDS), seconds=3.0, calibration_data=None,
                  no_gradcam=False, output="saliency-benchmark", log=None):
    """What `keras-saliency benchmark` does: `benchmark_masker` on a model (or an untrained
    masker on a Keras Applications encoder: speed does not depend on the weights), written as
    benchmark.csv, benchmark.md and benchmark_config.json in `output`.

    Args:
        model: a shipped model name or a masker's `.keras` file, or None.
        encoder: without `model`: the Keras Applications classifier whose layers are the encoder.
        image_size: without `model`: the input size.
        decoder_filters: without `model`: the decoder's widths, comma-separated.
        mask_stride: without `model`: image side / mask side.
        batch_sizes: comma-separated batch sizes.
        backends: comma-separated backends (`BACKENDS`).
        seconds: timing per backend, batch size and model part.
        calibration_data: real images for the int8 calibration and the timed batches.
        no_gradcam: skip the Grad-CAM reference.
        output: the output folder.
        log: a function called with each progress line, or None.

    Returns:
        the rows (dicts; `benchmark_table` shows them).

    Example:

    ```python
    rows = run_benchmark("imagenet-darknet-tiny", backends="keras,tflite_int8", batch_sizes="32")
    ```
    """
    from keras_saliency.deployment.export import predicted_classes, sample_images
    from keras_saliency.pretrained import load_saliency_model

    log = log or (lambda line: None)
    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"Expected comma-separated whole numbers. Received: `batch_sizes={batch_sizes}`") from None
    names = check_backends([b.strip() for b in backends.split(",") if b.strip()])
    if model:
        saliency_model, _, _ = load_saliency_model(model)
        described = model
    else:
        from keras_saliency.models.encoders import application_classifier
        from keras_saliency.models.model import SaliencyModel

        classifier, preprocessing = application_classifier(encoder, image_size, weights=None)
        saliency_model = SaliencyModel.from_classifier(
            classifier, encoder=encoder, classifier_preprocessing=preprocessing, encoder_weights=None,
            decoder_filters=tuple(int(f) for f in decoder_filters.split(",")), mask_stride=mask_stride,
        )
        described = f"untrained {encoder} masker, decoder {decoder_filters}, mask stride {mask_stride}"
    images = class_ids = None
    if calibration_data:
        images = sample_images(calibration_data, saliency_model.image_size, 100).astype("float32")
        class_ids = predicted_classes(saliency_model, images)
    size = saliency_model.image_size
    log(f"Benchmarking {described} at {size}x{size}, batches {sizes}: {names}")
    rows = benchmark_masker(saliency_model, sizes, names, seconds, images, class_ids, gradcam=not no_gradcam,
                            progress=log)
    config = {"model": model or described, "image_size": size, "batch_sizes": sizes,
              "backends": names, "seconds": seconds, "calibration_data": calibration_data,
              "masker_parameters": saliency_model.masker.count_params(),
              "encoder_parameters": saliency_model.masker.encoder.count_params(),
              "machine": machine_description()}
    write_benchmark(output, rows, config)
    return rows
