"""Pictures of masks: heat-map overlays and image | mask | preserved | destroyed panels."""

import os

import numpy as np


def heatmap(masks, colormap="jet"):
    """Masks (..., H, W[, 1]) in [0, 1] to RGB uint8 colours.

    Args:
        masks: masks in [0, 1], shape `(..., H, W)` or `(..., H, W, 1)`.
        colormap: a matplotlib colormap name (default "jet").

    Example:

    ```python
    colours = heatmap(masks)  # (N, H, W, 3) uint8
    ```
    """
    import matplotlib

    masks = np.asarray(masks, dtype=np.float32)
    if masks.shape[-1] == 1:
        masks = masks[..., 0]
    colours = matplotlib.colormaps[colormap](np.clip(masks, 0.0, 1.0))[..., :3]
    return (colours * 255).astype(np.uint8)


def overlay(images, masks, opacity=0.5, colormap="jet"):
    """Heat-map of `masks` blended over `images` (both at the same resolution).

    Args:
        images: `(..., H, W, 3)` RGB in [0, 255].
        masks: `(..., H, W)` or `(..., H, W, 1)` in [0, 1].
        opacity: the heat map's weight in the blend (default 0.5).
        colormap: a matplotlib colormap name (default "jet").

    Example:

    ```python
    picture = overlay(images[0], masks[0])  # (H, W, 3) uint8
    ```
    """
    images = np.asarray(images, dtype=np.float32)
    blended = (1 - opacity) * images + opacity * heatmap(masks, colormap).astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)


def preserved_and_destroyed(images, masks, alternatives=None):
    """`(preserved, destroyed)` float32 images: `images * masks + alternatives * (1 - masks)`
    (what the mask keeps) and `images * (1 - masks) + alternatives * masks` (what it removes).

    `alternatives` (what replaces removed pixels, broadcast against `images`) defaults to a
    flat grey; `0` gives black.

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        masks: `(N, H, W)` or `(N, H, W, 1)` in [0, 1].
        alternatives: the replacement images or value, or None for grey (127.5).

    Example:

    ```python
    preserved, destroyed = preserved_and_destroyed(images, masks, alternatives=0)
    ```
    """
    images = np.asarray(images, dtype=np.float32)
    masks = np.asarray(masks, dtype=np.float32)
    if masks.ndim == images.ndim - 1:
        masks = masks[..., None]
    alternatives = np.float32(127.5) if alternatives is None else np.asarray(alternatives, np.float32)
    return images * masks + alternatives * (1 - masks), images * (1 - masks) + alternatives * masks


def panels(images, masks, alternatives=None):
    """Per image one row: image | overlay | preserved | destroyed (uint8, side by side).

    `alternatives` (what replaces removed pixels) defaults to a flat grey.

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        masks: `(N, H, W)` or `(N, H, W, 1)` in [0, 1].
        alternatives: the replacement images or value, or None for grey.

    Example:

    ```python
    rows = panels(images, masks)  # (N, H, 4 * W, 3) uint8
    ```
    """
    images = np.asarray(images, dtype=np.float32)
    masks = np.asarray(masks, dtype=np.float32)
    if masks.ndim == 3:
        masks = masks[..., None]
    preserved, destroyed = preserved_and_destroyed(images, masks, alternatives)
    columns = [images, overlay(images, masks), preserved, destroyed]
    columns = [np.clip(c, 0, 255).astype(np.uint8) for c in columns]
    return np.concatenate(columns, axis=2)


def save_panels(path, images, masks, titles=None, scale=None, alternatives=None):
    """Writes a PNG: one panel row per image, upscaled (nearest) so small images stay visible.
    Returns the path.

    Args:
        path: the PNG file (its folder is created).
        images: `(N, H, W, 3)` in [0, 255].
        masks: `(N, H, W)` or `(N, H, W, 1)` in [0, 1].
        titles: one title per row, or None.
        scale: the upscaling factor (default: about 128 pixels per image).
        alternatives: the replacement images or value, or None for grey.

    Example:

    ```python
    save_panels("overlays.png", images[:8], masks[:8], titles=[str(c) for c in labels[:8]])
    ```
    """
    from PIL import Image, ImageDraw

    rows = panels(images, masks, alternatives)
    if scale is None:
        scale = max(1, 128 // max(1, rows.shape[1]))
    height, width = rows.shape[1] * scale, rows.shape[2] * scale
    label_height = 14 if titles is not None else 0
    canvas = Image.new("RGB", (width, len(rows) * (height + label_height)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, row in enumerate(rows):
        top = i * (height + label_height)
        if titles is not None:
            draw.text((2, top + 1), str(titles[i]), fill=(0, 0, 0))
        tile = Image.fromarray(row).resize((width, height), Image.NEAREST)
        canvas.paste(tile, (0, top + label_height))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    canvas.save(path)
    return path


def save_method_grid(path, images, maps_by_method, boxes=None, row_titles=None, scale=None):
    """Writes a PNG grid: one row per image, the image then one heat-map overlay per method
    (column titles = method names); ground-truth `boxes[i]` (lists of inclusive pixel boxes)
    are drawn in white on the image column. Returns the path.

    Args:
        path: the PNG file (its folder is created).
        images: `(N, S, S, 3)` in [0, 255].
        maps_by_method: `{method name: (N, S, S) maps in [0, 1]}`.
        boxes: per image, a list of boxes or None (default None).
        row_titles: one title per row, or None.
        scale: the upscaling factor (default: about 96 pixels per image).

    Example:

    ```python
    save_method_grid("examples.png", images, {"masker": masks, "gradcam": cams}, boxes=boxes)
    ```
    """
    from PIL import Image, ImageDraw

    images = np.asarray(images, dtype=np.float32)
    names = list(maps_by_method)
    size = images.shape[1]
    if scale is None:
        scale = max(1, 96 // size)
    tile = size * scale
    header, label = 14, 12 if row_titles is not None else 0
    width = tile * (1 + len(names))
    canvas = Image.new("RGB", (width, header + len(images) * (tile + label)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(["image"] + names):
        draw.text((j * tile + 2, 1), name[: max(4, tile // 6)], fill=(0, 0, 0))
    for i, image in enumerate(images):
        top = header + i * (tile + label)
        if row_titles is not None:
            draw.text((2, top), str(row_titles[i])[: width // 6], fill=(0, 0, 0))
        columns = [np.clip(image, 0, 255).astype(np.uint8)] + [
            overlay(image, np.asarray(maps_by_method[n][i])) for n in names
        ]
        for j, column in enumerate(columns):
            picture = Image.fromarray(column).resize((tile, tile), Image.NEAREST)
            canvas.paste(picture, (j * tile, top + label))
        if boxes is not None and boxes[i] is not None:
            for x0, y0, x1, y1 in np.asarray(boxes[i]).reshape(-1, 4):
                draw.rectangle(
                    (x0 * scale, top + label + y0 * scale, (x1 + 1) * scale - 1, top + label + (y1 + 1) * scale - 1),
                    outline=(255, 255, 255),
                )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)
    return path


def plot_panels(images, masks, titles=None, alternatives=None, scale=2.0):
    """A matplotlib figure of `panels` (image | mask | preserved | destroyed per row), for
    notebooks. Returns the figure.

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        masks: `(N, H, W)` or `(N, H, W, 1)` in [0, 1].
        titles: one title per row, or None.
        alternatives: the replacement images or value, or None for grey.
        scale: the height of a row, in inches (default 2.0).

    Example:

    ```python
    figure = plot_panels(images[:4], model.predict((images[:4], labels[:4])))
    ```
    """
    import matplotlib.pyplot as plt

    rows = panels(images, masks, alternatives)
    figure, axes = plt.subplots(len(rows), 1, figsize=(4 * scale, scale * len(rows)), squeeze=False)
    for i, (axis, row) in enumerate(zip(axes[:, 0], rows)):
        axis.imshow(row)
        axis.set_axis_off()
        if titles is not None:
            axis.set_title(str(titles[i]), fontsize=9, loc="left")
    figure.tight_layout()
    return figure
