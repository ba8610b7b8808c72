"""Real-time overlay video: frames from a file or a camera, masks from the Keras model or an
exported one (`deployment.load_runtime`), the heat map written over each frame (OpenCV)."""

import time

import numpy as np

from keras_saliency.reports.pictures import overlay


def _require_cv2():
    try:
        import cv2
    except ImportError as error:
        raise ImportError(
            "Expected OpenCV for video: pip install opencv-python-headless (or 'keras-saliency[export]')"
        ) from error
    return cv2


def masks_for_frames(model, frames, class_id, image_size):
    """Masks (N, S, S) at the model's input size for RGB frames; `model` a SaliencyModel or a
    runtime (`deployment.load_runtime`, which needs `class_id`).

    Args:
        model: a `SaliencyModel` or a runtime.
        frames: RGB frames, a list or an array `(N, H, W, 3)` in [0, 255].
        class_id: the explained class (or one per frame), or None for the predicted class
            (`SaliencyModel` only).
        image_size: the model's input side, in pixels.

    Example:

    ```python
    masks = masks_for_frames(model, frames, class_id=None, image_size=model.image_size)
    ```
    """
    import keras

    small = keras.ops.convert_to_numpy(
        keras.ops.image.resize(np.asarray(frames, np.float32), (image_size, image_size))
    )
    if hasattr(model, "masker"):  # a SaliencyModel: predicted class when class_id is None
        inputs = small if class_id is None else (small, _ids(class_id, len(small)))
        return np.asarray(model.predict_on_batch(inputs))[..., 0]  # traced: no eager overhead
    return _runtime_masks(model, small, class_id, image_size)[0]


def _runtime_masks(runtime, small, class_id, image_size):
    """`(masks (N, S, S), classes (N,))` of an exported model for frames at its input size; a
    class id of -1 asks an export that classifies for its top-1 class (`explained_class`)."""
    import keras

    if class_id is None:
        raise ValueError("Expected a class id for an exported model that does not classify. Received: None")
    ids = _ids(class_id, len(small))
    outputs = runtime(small, ids)
    resized = keras.ops.image.resize(outputs["mask"], (image_size, image_size))
    classes = np.asarray(outputs.get("explained_class", ids)).reshape(-1)
    return np.clip(keras.ops.convert_to_numpy(resized)[..., 0], 0.0, 1.0), classes


def _ids(class_id, count):
    """One class id per frame: `class_id` (an id, or one per frame) as int32 `(count,)`."""
    return np.broadcast_to(np.asarray(class_id, np.int32), (count,)).copy()


def _frame_classes(model, frames, class_id, image_size):
    """The class each frame's mask explains: `class_id`, or the classifier's best (a
    `SaliencyModel`)."""
    if class_id is not None or not hasattr(model, "masker"):
        return np.full(len(frames), -1 if class_id is None else class_id, np.int64)
    import keras

    small = keras.ops.image.resize(np.asarray(frames, np.float32), (image_size, image_size))
    return np.argmax(keras.ops.convert_to_numpy(model.classifier_logits(small)), axis=-1)


def _label(frame, text):
    """`text` in the frame's top-left corner, white on a dark band (OpenCV)."""
    cv2 = _require_cv2()
    scale = max(0.4, frame.shape[0] / 720)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    frame[: height + base + 8, : width + 12] //= 3
    cv2.putText(frame, text, (6, height + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def explain_video(model, source, output, image_size, class_id=None, batch_size=8, max_frames=0,
                  progress=None, class_names=None):
    """Writes the overlay video `output` (mp4) for `source` (a video file, or a camera index).
    Returns `{"frames", "seconds", "frames_per_s", "model_masks_per_s"}`.

    Args:
        model: a `SaliencyModel` or a runtime (`deployment.load_runtime`).
        source: a video file, or a camera index.
        output: the `.mp4` file to write.
        image_size: the model's input side, in pixels.
        class_id: the explained class, or None for the predicted class (`SaliencyModel` only).
        batch_size: frames per model call (default 8).
        max_frames: stop after this many frames (default 0: the whole video).
        progress: called with the number of frames of each batch, or None.
        class_names: names of the classes: the explained class is written on every frame (None:
            no label).

    Example:

    ```python
    stats = explain_video(model, "street.mp4", "street_saliency.mp4", model.image_size)
    ```
    """
    cv2 = _require_cv2()
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ValueError(f"Expected a readable video file or camera index. Received: {source!r}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    frames, model_seconds, start = 0, 0.0, time.perf_counter()
    done = False
    try:
        while not done:
            batch = []
            while len(batch) < batch_size and not (max_frames and frames + len(batch) >= max_frames):
                ok, frame = capture.read()
                if not ok:
                    done = True
                    break
                batch.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if max_frames and frames + len(batch) >= max_frames:
                done = True
            if not batch:
                break
            if hasattr(model, "masker"):
                classes = _frame_classes(model, batch, class_id, image_size) if class_names else None
                tick = time.perf_counter()
                masks = masks_for_frames(model, batch, class_id if classes is None else classes, image_size)
            else:  # an exported model: the class it explained comes out with the mask
                import keras

                small = keras.ops.convert_to_numpy(
                    keras.ops.image.resize(np.asarray(batch, np.float32), (image_size, image_size)))
                tick = time.perf_counter()
                masks, classes = _runtime_masks(model, small, class_id, image_size)
                classes = classes if class_names else None
            model_seconds += time.perf_counter() - tick
            for i, (frame, mask) in enumerate(zip(batch, masks)):
                mask = cv2.resize(mask, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
                shown = overlay(frame, mask)
                if classes is not None:
                    shown = _label(np.ascontiguousarray(shown), str(class_names[int(classes[i])]))
                out = cv2.cvtColor(shown, cv2.COLOR_RGB2BGR)
                if writer is None:
                    writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (out.shape[1], out.shape[0]))
                writer.write(out)
            frames += len(batch)
            if progress:
                progress(len(batch))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not frames:
        raise ValueError(f"Expected a video with frames OpenCV can decode. Received: {source!r} (no frame decoded)")
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "frames_per_s": frames / seconds if seconds else 0.0,
            "model_masks_per_s": frames / model_seconds if model_seconds else 0.0, "output": output}


def explain_video_file(source=None, camera=None, model=None, runtime=None, class_name=None,
                       batch_size=8, max_frames=0, output="saliency-video.mp4", trust_savedmodel=False):
    """What `keras-saliency video` does: the overlay video of a file or a camera written to
    `output`, with `<output>_config.json` (the figures and the resolved options).

    Args:
        source: a video file, or None with `camera`.
        camera: a camera index, or None with `source`.
        model: a shipped model name or a masker's `.keras` file (default "imagenet-darknet-tiny";
            with `runtime`: the export's report gives the image size and class names, or this
            model, the one that was exported).
        runtime: an exported model to run instead (.tflite, .onnx, .engine / .plan, SavedModel).
        class_name: a class name or id (default: each frame's predicted class; exported models
            need one).
        batch_size: frames per model call.
        max_frames: stop after this many frames (0: all).
        output: the video file written.
        trust_savedmodel: let `runtime` be a SavedModel folder, whose graph can do anything
            (file and network operations included): only one you made.

    Returns:
        the figures: frames, frames per second end to end, masks/s in the model.

    Example:

    ```python
    result = explain_video_file("clip.mp4", model="imagenet-darknet-tiny", output="clip-masks.mp4")
    ```
    """
    import json
    import os

    from keras_saliency.deployment.runtimes import load_runtime
    from keras_saliency.deployment.serving import PREDICTED
    from keras_saliency.explain.files import class_id_from
    from keras_saliency.pretrained import load_saliency_model

    if (source is None) == (camera is None):
        raise ValueError("Expected a video file or `camera` (one of them). Received: "
                         + ("both" if source is not None else "neither"))
    if runtime and model is None:  # the export's own report: its size and class names
        from keras_saliency.runtime.classes import load_metadata

        info = load_metadata(runtime)
        if class_name is None and not info.get("classify"):
            raise ValueError("an exported model that does not classify needs a class: give `class_name`")
        saliency_model = load_runtime(runtime, trust_savedmodel=trust_savedmodel)
        class_names, size = info.get("class_names"), saliency_model.image_size
        class_id = class_id_from(class_name, [class_names], info.get("num_classes"))
        class_id = PREDICTED if class_id is None else class_id
    else:
        saliency_model, class_names, info = load_saliency_model(model or "imagenet-darknet-tiny")
        class_id = class_id_from(class_name, [class_names, info.get("display_names")], saliency_model.num_classes)
        size = saliency_model.image_size
    if runtime and model is not None:
        from keras_saliency.runtime.classes import load_metadata

        if class_id is None and not load_metadata(runtime).get("classify"):
            raise ValueError("an exported model that does not classify needs a class: give `class_name`")
        saliency_model = load_runtime(runtime, trust_savedmodel=trust_savedmodel)
        class_id = PREDICTED if class_id is None else class_id
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    result = explain_video(saliency_model, camera if source is None else source, output, size, class_id,
                           batch_size, max_frames, class_names=info.get("display_names") or class_names)
    with open(os.path.splitext(output)[0] + "_config.json", "w") as f:
        json.dump({**result, "source": source, "camera": camera, "model": model, "runtime": runtime,
                   "class": class_name, "batch_size": batch_size}, f, indent=2)
    return result
