"""A live web demo (Gradio): upload a photo or point the webcam at something, pick the
predicted class or any other, and see the mask over the image, the preserved and destroyed
images, the classifier's top-k scores and the masks per second.

`LiveExplainer` does the work and needs no Gradio (it is what the tests call); `build_app`
lays it out as a Gradio app; `keras-saliency serve` launches it. Gradio is an optional
dependency: `pip install "keras-saliency[app]"`.
"""

import collections
import dataclasses
import os
import time

import numpy as np

from keras_saliency.explain.video import masks_for_frames
from keras_saliency.reports.pictures import overlay, preserved_and_destroyed
from keras_saliency.models.alternatives import blurred
from keras_saliency.options import install_hint

APP_EXTRA = install_hint("app")
PREDICTED = -1  # the class choice "predicted class"
PREDICTED_LABEL = "predicted class"


def require_gradio():
    """Imports Gradio (analytics off: the demo contacts no server of its own accord) or raises
    an `ImportError` whose message is the install hint.

    Example:

    ```python
    gradio = require_gradio()
    ```
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise ImportError(f"Expected Gradio for the web demo: {APP_EXTRA}") from error
    return gradio


def _unique_labels(names, num_classes):
    """One label per class: its name, with the id added where names repeat (ImageNet has two
    "crane"s); ids where there are no names."""
    if not names:
        return [str(i) for i in range(num_classes)]
    counts = collections.Counter(names)
    return [name if counts[name] == 1 else f"{name} ({i})" for i, name in enumerate(names)]


def _resize(array, size, resample):
    """An (H, W, 3) uint8 image or an (H, W) float mask resized to `size` = (width, height)."""
    from PIL import Image

    if array.ndim == 2:
        return np.asarray(Image.fromarray(np.asarray(array, np.float32)).resize(size, resample))
    return np.asarray(Image.fromarray(array).resize(size, resample))


@dataclasses.dataclass
class Explanation:
    """What `LiveExplainer` returns for one image (pictures RGB uint8 at the display size).

    Args:
        image: the input, resized to the display size.
        mask: the mask in [0, 1] at the display size, float32 (H, W).
        overlay: the mask as a heat map over the image.
        preserved: `image * mask`.
        destroyed: `image * (1 - mask)`.
        class_id: the explained class.
        class_name: its label.
        probability: the classifier's probability of that class.
        scores: the classifier's top-k `{label: probability}`, best first.
        seconds: the time the masker took for this image.

    Example:

    ```python
    result = LiveExplainer(model, class_names)(image)
    print(result.class_name, f"{result.probability:.2f}", f"{result.seconds * 1000:.0f} ms")
    ```
    """

    image: np.ndarray
    mask: np.ndarray
    overlay: np.ndarray
    preserved: np.ndarray
    destroyed: np.ndarray
    class_id: int
    class_name: str
    probability: float
    scores: dict
    seconds: float


class LiveExplainer:
    """Explains one RGB image at a time, for a live demo: the classifier's top-k scores, then
    the mask of the predicted (or a chosen) class, and the masks per second over recent images.

    The image is squashed to the model's input size for the classifier and the masker (as
    `explain` does); the mask is then resized back to the image, shown at most
    `display_side` pixels on its longer side.

    Args:
        model: a `SaliencyModel`: its classifier ranks the classes and, without `runtime`,
            its masker makes the masks.
        class_names: readable names, one per class (default: the class ids).
        runtime: an exported masker of the same model (`keras_saliency.deployment.load_runtime`:
            SavedModel, LiteRT, ONNX Runtime, TensorRT) that makes the masks instead.
        top_k: how many of the classifier's best classes are scored.
        display_side: the longest side of the pictures returned (larger images are shrunk).
        opacity: of the heat map over the image.
        window: the masks/s figure is the mean over this many recent images.

    Example:

    ```python
    from keras_saliency import pretrained
    from keras_saliency.explain.app import LiveExplainer

    explainer = LiveExplainer(pretrained.load("cifar10"), pretrained.display_names("cifar10"))
    result = explainer(image)          # RGB uint8 (H, W, 3); predicted class
    result.scores, result.overlay      # {"cat": 0.91, ...}, the heat map over the image
    explainer(image, class_id=3)       # the mask of class 3 instead
    ```
    """

    def __init__(self, model, class_names=None, runtime=None, top_k=5, display_side=512, opacity=0.5,
                 window=20):
        import keras

        from keras_saliency.models.compiled import compiled

        if class_names is not None and len(class_names) != model.num_classes:
            raise ValueError(f"Expected {model.num_classes} class names (one per class). "
                             f"Received: {len(class_names)}")
        if not 1 <= int(top_k):
            raise ValueError(f"Expected top_k >= 1. Received: top_k={top_k}")
        self.model = model
        self.runtime = runtime
        self.labels = _unique_labels(class_names, model.num_classes)
        self.top_k = min(int(top_k), model.num_classes)
        self.display_side = int(display_side)
        self.opacity = opacity
        self.recent = collections.deque(maxlen=int(window))
        self._probabilities = compiled(lambda images: keras.ops.softmax(model.classifier_logits(images)))
        size = model.image_size
        self(np.zeros((size, size, 3), np.uint8))  # traces the models: masks/s counts from the first user image
        self.recent.clear()

    def class_choices(self):
        """`[(label, value)]` for a class menu: "predicted class" (`PREDICTED`), then every class."""
        return [(PREDICTED_LABEL, PREDICTED)] + [(label, i) for i, label in enumerate(self.labels)]

    @property
    def masks_per_s(self):
        """Masks per second of the masker, over the recent images (0 before the first)."""
        return len(self.recent) / sum(self.recent) if self.recent and sum(self.recent) > 0 else 0.0

    def _check_image(self, image):
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4) or min(image.shape[:2]) < 1:
            raise ValueError(f"Expected an RGB image of shape (H, W, 3). Received: shape {image.shape}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        return image[..., :3]

    def __call__(self, image, class_id=PREDICTED):
        """Returns the `Explanation` of `image` (RGB, (H, W, 3), uint8 or [0, 255]) for `class_id`
        (`PREDICTED`, the default, or None: the classifier's best class)."""
        import keras
        from PIL import Image

        image = self._check_image(image)
        size = self.model.image_size
        small = _resize(image, (size, size), Image.BILINEAR)[None].astype(np.float32)
        if class_id is not None and int(class_id) != PREDICTED and not 0 <= int(class_id) < self.model.num_classes:
            raise ValueError(f"Expected a class id in [0, {self.model.num_classes}). Received: {class_id}")
        if getattr(self.runtime, "classifies", False):  # one pass: the export's classifier and masker
            start = time.perf_counter()
            out = self.runtime(small, np.array([PREDICTED if class_id is None else int(class_id)], np.int32))
            seconds = time.perf_counter() - start
            logits = np.asarray(out["logits"][0], np.float64)
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            class_id = int(np.asarray(out["explained_class"]).reshape(-1)[0])
            mask = np.clip(_resize(np.asarray(out["mask"][0, ..., 0], np.float32), (size, size), Image.BILINEAR), 0, 1)
        else:
            probabilities = keras.ops.convert_to_numpy(self._probabilities(small))[0]
            if class_id is None or int(class_id) == PREDICTED:
                class_id = int(np.argmax(probabilities))
            class_id = int(class_id)
            start = time.perf_counter()
            mask = masks_for_frames(self.runtime or self.model, small, class_id, size)[0]
            seconds = time.perf_counter() - start
        ranked = np.argsort(-probabilities)[: self.top_k]
        self.recent.append(seconds)
        height, width = image.shape[:2]
        scale = min(1.0, self.display_side / max(height, width))
        shown = (max(1, round(width * scale)), max(1, round(height * scale)))
        if shown != (width, height):
            image = _resize(image, shown, Image.BILINEAR)
        mask = np.clip(_resize(mask, shown, Image.BILINEAR), 0.0, 1.0)
        # Removed pixels become the blurred image, as in `keras-saliency explain`'s pictures.
        alternatives = keras.ops.convert_to_numpy(blurred(image[None].astype(np.float32)))[0]
        preserved, destroyed = preserved_and_destroyed(image, mask, alternatives=alternatives)
        return Explanation(
            image=image, mask=mask, overlay=overlay(image, mask, self.opacity),
            preserved=preserved.astype(np.uint8), destroyed=destroyed.astype(np.uint8),
            class_id=class_id, class_name=self.labels[class_id], probability=float(probabilities[class_id]),
            scores={self.labels[c]: float(probabilities[c]) for c in ranked}, seconds=seconds,
        )

    def status(self, result):
        """One Markdown line: the explained class, its probability and the masks/s."""
        count = len(self.recent)
        what = "classifier and masker in one pass" if getattr(self.runtime, "classifies", False) else "the masker alone"
        return (f"Explaining **{result.class_name}** (p = {result.probability:.2f}) · {self.masks_per_s:.1f} masks/s "
                f"({what}, mean over the last {count} image{'s' if count != 1 else ''})")


def build_app(explainer, title="keras-saliency: live saliency masks", description=None):
    """The Gradio app of `explainer` (a `LiveExplainer`): an image (upload, webcam snapshot or
    clipboard) and a live webcam tab, a class menu, the top-k scores, the masks/s and the mask
    over the image with the preserved and destroyed images. Launch it with
    `launch(app, ...)` or Gradio's own `app.launch()`.

    Args:
        explainer: a `LiveExplainer`.
        title: the page's title and heading.
        description: Markdown under the heading (default: what the page shows).

    Example:

    ```python
    from keras_saliency.explain.app import LiveExplainer, build_app, launch

    app = build_app(LiveExplainer(model, class_names))
    launch(app, host="127.0.0.1", port=7860)
    ```
    """
    gr = require_gradio()
    description = description or (
        "Upload a photo, or take one with the webcam (the **Live webcam** tab streams it). The mask "
        "shows what the classifier needs to see the chosen class: *preserved* keeps only that, "
        "*destroyed* removes it.")

    def explain(image, class_id):
        if image is None:
            return None, None, None, None, ""
        if isinstance(image, str):  # an uploaded file: the package's own reader and its limits
            from keras_saliency.runtime.images import UnreadableImageError, load_image

            try:
                image = load_image(image)
            except UnreadableImageError as error:
                return None, None, None, None, f"Could not read {os.path.basename(image)}: {error.reason}"
        result = explainer(image, PREDICTED if class_id is None else class_id)
        return result.overlay, result.preserved, result.destroyed, result.scores, explainer.status(result)

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"## {title}\n{description}")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Photo"):  # the file as uploaded, read by the package's reader
                    image = gr.File(file_types=["image"], type="filepath", label="Photo (drop or click)",
                                    elem_id="image")
                with gr.Tab("Snapshot"):
                    snapshot = gr.Image(sources=["webcam", "clipboard"], type="numpy", image_mode="RGB",
                                        label="Webcam snapshot or clipboard", elem_id="snapshot")
                with gr.Tab("Live webcam"):
                    camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", image_mode="RGB",
                                      label="Webcam", elem_id="camera")
                choice = gr.Dropdown(explainer.class_choices(), value=PREDICTED, label="Class to explain",
                                     elem_id="class")
                speed = gr.Markdown(elem_id="speed")
                scores = gr.Label(num_top_classes=explainer.top_k, label=f"Classifier: top {explainer.top_k}",
                                  elem_id="scores")
            with gr.Column(scale=2):
                shown = gr.Image(label="Mask over the image", format="png", interactive=False, elem_id="overlay")
                with gr.Row():
                    preserved = gr.Image(label="Preserved: image x mask", format="png", interactive=False,
                                         elem_id="preserved")
                    destroyed = gr.Image(label="Destroyed: image x (1 - mask)", format="png", interactive=False,
                                         elem_id="destroyed")
        outputs = [shown, preserved, destroyed, scores, speed]
        image.change(explain, [image, choice], outputs, concurrency_limit=1, trigger_mode="always_last",
                     api_name="explain_photo")
        snapshot.change(explain, [snapshot, choice], outputs, concurrency_limit=1, trigger_mode="always_last")
        choice.change(explain, [image, choice], outputs, concurrency_limit=1, trigger_mode="always_last")
        # (trigger_mode="always_last" would stop the stream after its first frame)
        camera.stream(explain, [camera, choice], outputs, stream_every=0.1, concurrency_limit=1,
                      show_progress="hidden")
    return app


def launch(app, host="127.0.0.1", port=7860, share=False, block=True):
    """Serves `app` on `host`:`port` with Gradio's server (`share` adds a public gradio.live
    link, which needs internet). With `block` it serves until interrupted (`wait`); without, it
    returns once the server is up (stop it with `app.close()`). Returns the local URL.

    Args:
        app: the Gradio app (`build_app`).
        host: the address to listen on (default "127.0.0.1").
        port: the port (default 7860).
        share: also open a public gradio.live link (default False).
        block: serve until interrupted (default True).

    Example:

    ```python
    url = launch(build_app(LiveExplainer(model)), port=7860, block=False)
    ```
    """
    app.queue(default_concurrency_limit=1)
    _, url, _ = app.launch(server_name=host, server_port=port, share=share, ssr_mode=False, inbrowser=False,
                           prevent_thread_lock=True, show_error=True, quiet=True)
    if block:
        wait(app)
    return url


def wait(app):
    """Serves the launched `app` until Ctrl+C (or the process is stopped), then closes it.

    Args:
        app: the launched Gradio app.

    Example:

    ```python
    launch(app, block=False)
    wait(app)
    ```
    """
    try:
        while app.is_running:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        app.close(verbose=False)


def serve(model="imagenet-darknet-tiny", runtime=None, top_k=5, host="127.0.0.1", port=7860, share=False,
          log=None, trust_savedmodel=False):
    """What `keras-saliency serve` does: builds the live web demo of a model and serves it until
    Ctrl+C.

    Args:
        model: a shipped model name or a masker's `.keras` file (with `runtime`: the model that
            was exported; its classifier still ranks the classes).
        runtime: an exported masker to run instead (.tflite, .onnx, .engine / .plan, SavedModel).
        top_k: how many of the classifier's best classes are scored.
        host: the address to serve on.
        port: the port.
        share: also a public gradio.live link (needs internet).
        log: called with the line that gives the address, or None.
        trust_savedmodel: let `runtime` be a SavedModel folder, whose graph can do anything
            (file and network operations included): only one you made.

    Example:

    ```python
    serve("imagenet-darknet-tiny", port=7861)
    ```
    """
    from keras_saliency.deployment.runtimes import load_runtime
    from keras_saliency.pretrained import load_saliency_model

    saliency_model, class_names, info = load_saliency_model(model)
    runner = load_runtime(runtime, trust_savedmodel=trust_savedmodel) if runtime else None
    explainer = LiveExplainer(saliency_model, info.get("display_names") or class_names, runtime=runner,
                              top_k=top_k)  # ValueError: class names that do not fit the model
    source = f"{os.path.basename(runtime.rstrip('/'))} (exported from {model})" if runtime else model
    app = build_app(explainer, title=f"keras-saliency: live masks of {source}")
    url = launch(app, host, port, share, block=False)
    public = f" and {app.share_url}" if share and getattr(app, "share_url", None) else ""
    if log:
        log(f"Serving {source} at {url}{public} (Ctrl+C stops)")
    wait(app)
