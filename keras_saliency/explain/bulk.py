"""Bulk explanations on Apache Beam: the same pipeline runs on one machine (DirectRunner) or on
Dataflow, Flink and Spark.

`explain_bulk` matches image paths (a glob on any Beam file system: local, `gs://`, `s3://`,
...), reads each file with the package's one image reader (`data.folder.read_image`), explains
the given or the predicted class in batches (`RunInference` with `SaliencyModelHandler` or
`ExportedMaskerHandler`) and writes into `output`:

    masks/<name>-<hash>.png   the mask, 8-bit grey, at the model's input size (and/or .npy, float32)
    rows.csv | rows.parquet   one row per explained image (`ROW_FIELDS`)
    dead_letters.csv          path,reason of every file that could not be explained
    explain_bulk_config.json  the resolved request and, after the run, its counts

`<hash>` (8 hex digits of the path's SHA-1) keeps two `cat.jpg` of different folders apart, and a
retried element writes the same file again. A file that does not decode (truncated, not an
image, too large, unreadable) or a batch whose inference fails becomes a dead letter with its
reason: it never fails the job. Needs the `beam` extra: `pip install "keras-saliency[beam]"`.
"""

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import posixpath
import tempfile

import numpy as np

from keras_saliency.options import install_hint

BEAM_EXTRA = install_hint("beam")


class _DropBeamNoise(logging.Filter):
    """Two harmless warnings Beam logs on the root logger: its GCP module's when google-apitools
    is absent (at import) and RunInference's "Resource module is not available" when PyTorch is
    absent (its model manager imports torch; at every model load)."""

    NOISE = ("apitools not found", "Resource module is not available")

    def filter(self, record):
        return not any(text in str(record.msg) for text in self.NOISE)


if not any(isinstance(f, _DropBeamNoise) for f in logging.getLogger().filters):
    logging.getLogger().addFilter(_DropBeamNoise())
try:
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError as error:
    raise ImportError(f"Expected apache-beam for bulk explanations: {BEAM_EXTRA}") from error

from keras_saliency.data.folder import UnreadableImageError, read_image  # noqa: E402

MASK_FORMATS = ("png", "npy")
ROW_FORMATS = ("csv", "parquet")
ROW_FIELDS = ("path", "width", "height", "class_id", "class_name", "probability", "exists",
              "mask_mean", "mask_max", "mask_area", "mask_stem")
DEAD_LETTER_FIELDS = ("path", "reason")
MASKS_DIR = "masks"
ROWS_FILE = "rows"
DEAD_LETTERS_FILE = "dead_letters.csv"
CONFIG_FILE = "explain_bulk_config.json"
MASK_THRESHOLD = 0.5  # mask_area: the share of mask pixels above it
MAX_REMOTE_BYTES = 256 << 20  # a remote image file is copied locally up to this size
METRICS_NAMESPACE = "keras_saliency"


# --- Files on any Beam file system -------------------------------------------------------------

def _is_local(path):
    return FileSystems.get_scheme(path) in (None, "file")


@contextlib.contextmanager
def local_file(path, max_bytes=MAX_REMOTE_BYTES):
    """`with local_file(path) as local:` a local path to the file `path` of any Beam file system:
    the path itself when local, else a temporary copy (at most `max_bytes`, else `ValueError`).

    Args:
        path: a local path or a URL of a Beam file system (e.g. `gs://...`).
        max_bytes: the largest remote file copied, in bytes (default 256 MiB).

    Example:

    ```python
    with local_file("gs://bucket/models/masker.keras") as local:
        model = keras.saving.load_model(local)
    ```
    """
    if _is_local(path):
        yield path[len("file://"):] if path.startswith("file://") else path
        return
    suffix = posixpath.splitext(path)[1]
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, "file" + suffix)
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as source, \
                open(local, "wb") as target:
            copied = 0
            while True:
                chunk = source.read(1 << 20)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > max_bytes:
                    raise ValueError(f"Expected a file of at most {max_bytes >> 20} MiB. Received: {path} is larger")
                target.write(chunk)
        yield local


def _write_bytes(path, data):
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def _write_json(path, record):
    _write_bytes(path, json.dumps(record, indent=2, default=str).encode("utf-8"))


def mask_stem(path):
    """`<name>-<8 hex digits of sha1(path)>`: the output name of the mask of `path`.

    Args:
        path: the image's path or URL.

    Example:

    >>> mask_stem("gs://bucket/photos/cat.jpg")
    'cat-f43745a0'
    """
    name = posixpath.splitext(posixpath.basename(path.replace("\\", "/")))[0]
    return f"{name}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"


# --- Model handlers ----------------------------------------------------------------------------

@dataclasses.dataclass
class ModelSummary:
    """What the pipeline needs to know of a model before it runs: its input size, its number of
    classes, its class names as trained (e.g. folder names) and readable ones (each None when
    unknown). Rows name classes with `row_names`: the readable names, else the trained ones.

    Args:
        image_size: the model's input side, in pixels.
        num_classes: the number of classes.
        class_names: the class names as trained, or None.
        display_names: readable class names, or None.

    Example:

    ```python
    summary = ModelSummary(32, 2, class_names=["cat", "dog"])
    summary.row_names  # ["cat", "dog"]: no display names
    ```
    """

    image_size: int
    num_classes: int
    class_names: list = None
    display_names: list = None

    @property
    def row_names(self):
        return self.display_names or self.class_names


def summarize_model(name_or_path):
    """A `ModelSummary` of a shipped model (read from its metadata: nothing is loaded) or of a
    masker's `.keras` file on any Beam file system (loaded with `explain.load_saliency_model`).

    Args:
        name_or_path: a shipped model's name, or the path or URL of a `.keras` file.

    Example:

    ```python
    from keras_saliency.explain.bulk import summarize_model
    summarize_model("imagenet-darknet-tiny").image_size  # 224
    ```
    """
    from keras_saliency import pretrained

    if name_or_path in pretrained.available():
        info = pretrained.info(name_or_path)
        names = pretrained.class_names(name_or_path)
        return ModelSummary(int(info["image_size"]), len(names), names, info.get("display_names"))
    from keras_saliency.pretrained import load_saliency_model

    with local_file(name_or_path) as local:
        model, names, info = load_saliency_model(local)
    return ModelSummary(model.image_size, model.num_classes, names, info.get("display_names"))


class _MaskHandler(ModelHandler):
    """Shared by the handlers: examples are RGB uint8 images `(S, S, 3)` at the model's size;
    each `PredictionResult.inference` is a dict: `class_id` (int), `probability` (float, None for
    exported maskers: they hold no classifier), `exists` (float) and `mask` (float32 `(S, S)`)."""

    def __init__(self, class_id=None, batch_size=32, **kwargs):
        if class_id is not None and int(class_id) < 0:
            raise ValueError(f"Expected class_id >= 0 or None (the predicted class). Received: class_id={class_id}")
        if int(batch_size) < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
        super().__init__(min_batch_size=int(batch_size), max_batch_size=int(batch_size), **kwargs)
        self.batch_size = int(batch_size)
        self.class_id = None if class_id is None else int(class_id)

    def run_inference(self, batch, model, inference_args=None):
        images = np.stack([np.asarray(image) for image in batch]).astype(np.float32)
        class_ids, probabilities, masks, exists = model(images, self.class_id)
        return [
            PredictionResult(image, {
                "class_id": int(class_ids[i]),
                "probability": None if probabilities is None else float(probabilities[i]),
                "exists": float(exists[i]),
                "mask": np.asarray(masks[i], np.float32),
            })
            for i, image in enumerate(batch)
        ]

    def get_metrics_namespace(self):
        return "RunInference_keras_saliency"


class _KerasExplainer:
    """A SaliencyModel's classifier and masker in one traced call: `(images, class_id or None)`
    -> `(class_ids, probabilities of those classes, masks (N, S, S), exists (N,))`."""

    def __init__(self, model):
        from keras import ops

        from keras_saliency.models.compiled import compiled

        self.model = model

        @compiled
        def classify(images, class_ids):  # class id -1: the predicted class
            logits = model.classifier_logits(images)
            predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
            class_ids = ops.where(class_ids < 0, predicted, class_ids)
            chosen = ops.take_along_axis(ops.softmax(logits, axis=-1), class_ids[:, None], axis=-1)
            return class_ids, chosen[:, 0]

        def explain(images, class_ids):
            class_ids, probabilities = classify(ops.convert_to_tensor(np.asarray(images, np.float32)),
                                                ops.convert_to_tensor(class_ids))
            class_ids = ops.convert_to_numpy(class_ids)
            outputs = model.explain(images, class_ids, batch_size=len(images))
            return class_ids, ops.convert_to_numpy(probabilities), outputs["mask"][..., 0], outputs["exists"]

        self.function = explain

    def __call__(self, images, class_id=None):
        ids = np.full(len(images), -1 if class_id is None else class_id, np.int32)
        return tuple(np.asarray(t) for t in self.function(images, ids))


class SaliencyModelHandler(_MaskHandler):
    """Beam `ModelHandler` for a keras-saliency `SaliencyModel`: masks for the given class or,
    without one, for each image's predicted class (with its probability).

    Args:
        model: a shipped model name (`keras_saliency.pretrained.available()`) or a masker's
            `.keras` file on any Beam file system (copied locally, then loaded with size limits
            and Keras' safe mode: `model_files.load_model_file`).
        class_id: the class to explain, or None for each image's predicted class.
        batch_size: images per model call.
        confidence: the class selector's threshold (default: as trained).
        **kwargs: `ModelHandler` options (`large_model`, `model_copies`, `env_vars`).

    Example:

    ```python
    import apache_beam as beam
    import numpy as np
    from apache_beam.ml.inference.base import RunInference
    from keras_saliency.explain.bulk import SaliencyModelHandler

    with beam.Pipeline() as pipeline:
        (pipeline
         | beam.Create([np.zeros((32, 32, 3), np.uint8)])
         | RunInference(SaliencyModelHandler("cifar10"))
         | beam.Map(lambda result: print(result.inference["mask"].shape)))  # (32, 32)
    ```
    """

    def __init__(self, model="cifar10", class_id=None, batch_size=32, confidence=None, **kwargs):
        super().__init__(class_id, batch_size, **kwargs)
        self.model_name = os.fspath(model)
        self.confidence = confidence

    def load_model(self):
        from keras_saliency.pretrained import load_saliency_model

        with local_file(self.model_name) as local:
            model, _, _ = load_saliency_model(local, self.confidence)
        return _KerasExplainer(model)


class _RuntimeExplainer:
    """An exported masker (`deployment.load_runtime`) with the masks upsampled to the model's
    input size as the SaliencyModel does (`masker.upsample_masks`)."""

    def __init__(self, runtime, image_size):
        self.runtime = runtime
        self.image_size = image_size

    def __call__(self, images, class_id):
        import keras

        from keras_saliency.models.masker import upsample_masks

        ids = np.full(len(images), -1 if class_id is None else class_id, np.int32)  # -1: the top-1 class
        outputs = self.runtime(images, ids)
        masks = keras.ops.convert_to_numpy(upsample_masks(outputs["mask"], self.image_size))[..., 0]
        probabilities = None
        if "logits" in outputs:  # an export that classifies: the class explained and its probability
            ids = np.asarray(outputs["explained_class"], np.int32).reshape(-1)
            logits = np.asarray(outputs["logits"], np.float64)
            exp = np.exp(logits - logits.max(-1, keepdims=True))
            probabilities = (exp / exp.sum(-1, keepdims=True))[np.arange(len(ids)), ids].astype(np.float32)
        return ids, probabilities, masks, np.asarray(outputs["exists"], np.float32).reshape(-1)


class ExportedMaskerHandler(_MaskHandler):
    """Beam `ModelHandler` for a masker exported by `keras-saliency export`: LiteRT (`.tflite`)
    or ONNX (`.onnx`), run with the package's runtimes (`deployment.runtimes`). It explains one
    given class (rows without a probability), or, for an export that classifies too, without a
    class the classifier's top-1 class of each image, with its probability.

    Args:
        path: the exported file, on any Beam file system.
        image_size: the input size the masker was exported with.
        class_id: the class to explain, or None (an export that classifies: each image's top-1).
        batch_size: images per runtime call.
        num_threads: the runtime's CPU threads (default: the runtime's; every core for LiteRT).
        **kwargs: `ModelHandler` options.

    Example:

    ```python
    handler = ExportedMaskerHandler("cifar10.onnx", image_size=32, class_id=3)
    ```
    """

    def __init__(self, path, image_size, class_id, batch_size=32, num_threads=None, **kwargs):
        suffix = posixpath.splitext(os.fspath(path))[1].lower()
        if suffix not in (".tflite", ".onnx"):
            raise ValueError(f"Expected an exported masker ending in .tflite or .onnx. Received: {path!r}")
        super().__init__(class_id, batch_size, **kwargs)
        self.path = os.fspath(path)
        self.image_size = int(image_size)
        self.num_threads = num_threads

    def load_model(self):
        from keras_saliency.deployment.runtimes import load_runtime

        with local_file(self.path) as local:  # the runtimes read the file while loading
            runtime = load_runtime(local, self.batch_size, num_threads=self.num_threads)
        if self.class_id is None and not runtime.classifies:
            raise ValueError(f"Expected a class id for {self.path}: it does not classify. Received: None")
        return _RuntimeExplainer(runtime, self.image_size)


# --- The pipeline ------------------------------------------------------------------------------

class _ReadImage(beam.DoFn):
    """path -> `((path, height, width), image uint8 (S, S, 3))`, or a dead letter `(path, reason)`."""

    def __init__(self, image_size):
        self.image_size = image_size
        self.dead = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "dead_letters")

    def process(self, path):
        try:
            with local_file(path) as local:
                original, image = read_image(local, self.image_size)
        except UnreadableImageError as error:
            reason = error.reason
        except (OSError, ValueError) as error:  # a remote file that cannot be copied
            reason = f"unreadable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        else:
            yield (path, int(original.shape[0]), int(original.shape[1])), image
            return
        self.dead.inc()
        yield beam.pvalue.TaggedOutput("dead_letters", (path, reason))


def _failed_batch(failure):
    """RunInference's dead letter `(batch of (key, image), (type, repr, traceback))` -> one
    `(path, reason)` per image of the batch."""
    batch, error = failure
    beam.metrics.Metrics.counter(METRICS_NAMESPACE, "dead_letters").inc(len(batch))
    text = error[1] if isinstance(error, tuple) and len(error) > 1 else str(error)
    for key, _ in batch:
        yield key[0], f"inference failed ({text.splitlines()[0][:200] if text else 'no message'})"


class _WriteMask(beam.DoFn):
    """`((path, height, width), PredictionResult)` -> writes the mask files, yields the row."""

    def __init__(self, output, formats, class_names):
        self.output = output
        self.formats = tuple(formats)
        self.class_names = list(class_names) if class_names else None
        self.explained = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "explained")

    def process(self, element):
        (path, height, width), result = element
        inference = result.inference
        mask = np.asarray(inference["mask"], np.float32)
        stem = posixpath.join(MASKS_DIR, mask_stem(path))
        target = FileSystems.join(self.output, stem)
        if "npy" in self.formats:
            buffer = io.BytesIO()
            np.save(buffer, mask)
            _write_bytes(target + ".npy", buffer.getvalue())
        if "png" in self.formats:
            from PIL import Image

            buffer = io.BytesIO()
            grey = np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
            Image.fromarray(grey, mode="L").save(buffer, format="PNG")
            _write_bytes(target + ".png", buffer.getvalue())
        class_id = inference["class_id"]
        self.explained.inc()
        yield {
            "path": path,
            "width": width,
            "height": height,
            "class_id": class_id,
            "class_name": self.class_names[class_id] if self.class_names else str(class_id),
            "probability": inference["probability"],
            "exists": inference["exists"],
            "mask_mean": float(mask.mean()),
            "mask_max": float(mask.max()),
            "mask_area": float((mask > MASK_THRESHOLD).mean()),
            "mask_stem": stem,
        }


class ExplainImages(beam.PTransform):
    """A PCollection of image paths -> `{"rows": row dicts (ROW_FIELDS), "dead_letters": (path,
    reason)}`; the mask files are written to `output/masks/` on the way.

    Args:
        handler: a `SaliencyModelHandler` or `ExportedMaskerHandler`.
        image_size: the model's input size (images are resized to it, as `explain` does).
        output: the output folder (any Beam file system).
        formats: mask files to write, a subset of `MASK_FORMATS` (may be empty).
        class_names: names for the rows' `class_name` (default: the class id).

    Example:

    ```python
    with beam.Pipeline() as pipeline:
        paths = pipeline | beam.Create(["a.jpg", "b.png"])
        outputs = paths | ExplainImages(SaliencyModelHandler("cifar10"), 32, "out")
        outputs["dead_letters"] | beam.Map(print)
    ```
    """

    def __init__(self, handler, image_size, output, formats=("png",), class_names=None):
        super().__init__()
        self.handler = handler
        self.image_size = int(image_size)
        self.output = output
        self.formats = _check_formats(formats)
        self.class_names = class_names

    def expand(self, paths):
        read = paths | "ReadImages" >> beam.ParDo(_ReadImage(self.image_size)).with_outputs(
            "dead_letters", main="images")
        results, failed = read.images | "Explain" >> RunInference(
            KeyedModelHandler(self.handler)).with_exception_handling()
        rows = results | "WriteMasks" >> beam.ParDo(_WriteMask(self.output, self.formats, self.class_names))
        failed_images = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch)
        dead_letters = (read.dead_letters, failed_images) | "DeadLetters" >> beam.Flatten()
        return {"rows": rows, "dead_letters": dead_letters}


def _check_formats(formats):
    formats = tuple(formats)
    unknown = [f for f in formats if f not in MASK_FORMATS]
    if unknown:
        raise ValueError(f"Expected mask formats among {MASK_FORMATS}. Received: {unknown}")
    return formats


def _csv_line(values):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def _parquet_schema():
    import pyarrow

    types = {"path": pyarrow.string(), "width": pyarrow.int64(), "height": pyarrow.int64(),
             "class_id": pyarrow.int64(), "class_name": pyarrow.string(), "mask_stem": pyarrow.string()}
    return pyarrow.schema([(name, types.get(name, pyarrow.float64())) for name in ROW_FIELDS])


def _write_rows(rows, output, row_format):
    prefix = FileSystems.join(output, ROWS_FILE)
    if row_format == "parquet":
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            prefix, _parquet_schema(), file_name_suffix=".parquet", num_shards=1, shard_name_template="")
    return (rows
            | "RowLines" >> beam.Map(lambda row: _csv_line(row[f] for f in ROW_FIELDS))
            | "WriteCsv" >> beam.io.WriteToText(prefix, file_name_suffix=".csv", num_shards=1,
                                                shard_name_template="", header=",".join(ROW_FIELDS)))


def _paths(pipeline, inputs):
    """Every file matched by the globs `inputs`, spread over the workers."""
    return (pipeline
            | "Globs" >> beam.Create(list(inputs))
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "Spread" >> beam.Reshuffle())


def _counter(result, name):
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name))
    except Exception:  # a runner without metrics
        return None
    values = [r.committed if r.committed is not None else r.attempted for r in found["counters"]]
    return int(sum(values)) if values else 0


def explain_bulk(inputs, output, model="cifar10", runtime=None, class_id=None, formats=("png",),
                 rows="csv", batch_size=32, pipeline_options=None, summary=None, confidence=None,
                 num_threads=None):
    """Explains every image matched by `inputs` with Apache Beam and waits for the job to end.

    Writes the masks, the rows, the dead letters and `explain_bulk_config.json` into `output`
    (see the module docstring). The runner and its options come from `pipeline_options`
    (DirectRunner by default).

    Args:
        inputs: a glob or a list of globs (any Beam file system), e.g. `"photos/**/*.jpg"`.
        output: the output folder (local or, e.g., `gs://bucket/masks-run`).
        model: a shipped model name or a masker's `.keras` file.
        runtime: an exported masker (`.tflite` / `.onnx`) to run instead of the Keras model
            (`model` then only gives the input size and class names); needs `class_id`.
        class_id: the class to explain (default: each image's predicted class).
        formats: mask files, a subset of `("png", "npy")`.
        rows: `"csv"` or `"parquet"`.
        batch_size: images per model call.
        pipeline_options: a `PipelineOptions` or a list of command-line flags, e.g.
            `["--runner=DirectRunner", "--direct_num_workers=2",
            "--direct_running_mode=multi_processing"]`.
        summary: the model's `ModelSummary` when already known (default: `summarize_model(model)`).
        confidence: the class selector's threshold (Keras model only; default: as trained).
        num_threads: CPU threads of each worker's exported-masker runtime (default: the runtime's;
            every core for LiteRT; `keras-saliency bulk` gives 1 when several local workers run).

    Returns:
        A dict: `explained` and `dead_letters` (counts; None when the runner reports no
        metrics), `seconds`, and the files written.

    Example:

    ```python
    from keras_saliency.explain.bulk import explain_bulk
    explain_bulk("photos/*.jpg", "bulk-out", model="imagenet-darknet-tiny", formats=("png", "npy"))
    ```
    """
    import time

    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    if not inputs:
        raise ValueError("Expected at least one glob of image files. Received: none")
    formats = _check_formats(formats)
    if rows not in ROW_FORMATS:
        raise ValueError(f"Expected rows in {ROW_FORMATS}. Received: {rows!r}")
    summary = summary or summarize_model(model)
    if class_id is not None and not 0 <= int(class_id) < summary.num_classes:
        raise ValueError(f"Expected class_id in [0, {summary.num_classes}). Received: class_id={class_id}")
    if runtime:
        handler = ExportedMaskerHandler(runtime, summary.image_size, class_id, batch_size, num_threads)
    else:
        handler = SaliencyModelHandler(model, class_id, batch_size, confidence)
    if not isinstance(pipeline_options, PipelineOptions):
        pipeline_options = PipelineOptions(list(pipeline_options or []))
    config = {"inputs": inputs, "output": output, "model": model, "runtime": runtime, "class_id": class_id,
              "class_name": None if class_id is None or not summary.row_names else summary.row_names[class_id],
              "formats": list(formats), "rows": rows, "batch_size": batch_size, "confidence": confidence,
              "image_size": summary.image_size, "mask_threshold": MASK_THRESHOLD,
              "pipeline_options": pipeline_options.get_all_options(drop_default=True)}
    config_path = FileSystems.join(output, CONFIG_FILE)
    if _is_local(output):
        os.makedirs(output, exist_ok=True)
    _write_json(config_path, config)
    start = time.perf_counter()
    pipeline = beam.Pipeline(options=pipeline_options)
    outputs = _paths(pipeline, inputs) | "ExplainImages" >> ExplainImages(
        handler, summary.image_size, output, formats, summary.row_names)
    _write_rows(outputs["rows"], output, rows)
    (outputs["dead_letters"]
     | "DeadLetterLines" >> beam.Map(_csv_line)
     | "WriteDeadLetters" >> beam.io.WriteToText(
         FileSystems.join(output, DEAD_LETTERS_FILE), num_shards=1, shard_name_template="",
         header=",".join(DEAD_LETTER_FIELDS)))
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    report = {"explained": _counter(result, "explained"), "dead_letters": _counter(result, "dead_letters"),
              "seconds": seconds, "rows_file": FileSystems.join(output, f"{ROWS_FILE}.{rows}"),
              "dead_letters_file": FileSystems.join(output, DEAD_LETTERS_FILE),
              "masks": FileSystems.join(output, MASKS_DIR), "config_file": config_path}
    _write_json(config_path, {**config, "result": report})
    return report


BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
RUNTIME_MODULES = {".onnx": ("onnxruntime",), ".tflite": ("ai_edge_litert",)}


def run_bulk(glob, output="saliency-bulk", model="cifar10", runtime=None, class_name=None, formats="png",
             rows="csv", batch_size=32, runner="DirectRunner", direct_num_workers=1, direct_running_mode=None,
             extra_options=()):
    """What `keras-saliency explain-bulk` does: checks the request (model, class, runtime),
    builds the pipeline options and runs `explain_bulk`.

    Args:
        glob: the images (any Beam file system).
        output: the output folder.
        model: a shipped model name or a masker's `.keras` file.
        runtime: an exported masker (.tflite or .onnx) to run instead; needs `class_name`.
        class_name: a class name or id (default: each image's predicted class).
        formats: "png", "npy", "png,npy" or "" (rows only).
        rows: "csv" or "parquet".
        batch_size: images per model call.
        runner: a Beam runner (`BEAM_RUNNERS`).
        direct_num_workers: DirectRunner's parallel workers (0: one per CPU core).
        direct_running_mode: DirectRunner's mode (default: in_memory with one worker,
            multi_processing with more).
        extra_options: more Beam pipeline options (`--project=...`, ...).

    Returns:
        `explain_bulk`'s report.

    Example:

    ```python
    report = run_bulk("photos/*.jpg", "masks-run", model="imagenet-darknet-tiny", formats="png,npy")
    ```
    """
    from keras_saliency.options import missing_modules
    from keras_saliency.deployment.runtimes import EXPORT_EXTRA
    from keras_saliency.explain.files import class_id_from

    if glob.startswith("-"):
        raise ValueError(f"Expected GLOB before the pipeline options. Received: {glob!r} first")
    summary = summarize_model(model)  # a shipped model's metadata, or the .keras file loaded once
    class_id = class_id_from(class_name, [summary.class_names, summary.display_names], summary.num_classes)
    if runtime:
        from keras_saliency.runtime.classes import load_metadata

        classifies = "://" not in runtime and os.path.isfile(runtime) and load_metadata(runtime).get("classify")
        if class_id is None and not classifies:
            raise ValueError("an exported masker that does not classify needs a class: give `class_name`")
        missing = missing_modules(RUNTIME_MODULES.get(os.path.splitext(runtime)[1].lower(), ()))
        if missing:
            raise ImportError(f"{runtime} needs {', '.join(missing)}: {EXPORT_EXTRA}")
        if "://" not in runtime and not os.path.isfile(runtime):
            raise FileNotFoundError(f"Expected `runtime` to be an exported masker file (.tflite or .onnx). "
                                    f"Received: {runtime!r}, which is not a file")
    options = [f"--runner={runner}"] + list(extra_options)
    threads = None  # the runtime's default: every core
    if runner == "DirectRunner":
        mode = direct_running_mode or ("in_memory" if direct_num_workers == 1 else "multi_processing")
        options += [f"--direct_num_workers={direct_num_workers}", f"--direct_running_mode={mode}"]
        if direct_num_workers != 1:
            threads = 1  # several local workers share the cores: one runtime thread each
    return explain_bulk(  # ImportError: a runner's own extra, e.g. apache-beam[gcp] for Dataflow
        glob, output, model=model, runtime=runtime, class_id=class_id,
        formats=[f.strip() for f in formats.split(",") if f.strip()], rows=rows, batch_size=batch_size,
        pipeline_options=options, summary=summary, num_threads=threads)
