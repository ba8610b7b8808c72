"""ImageNet's own box annotations -> `boxes.csv` (`path,xmin,ymin,xmax,ymax,label`).

Two formats: the per-image PASCAL-VOC-style XML files of ILSVRC2012 (`ILSVRC2012_val_*.xml`:
`<filename>`, and per `<object>` a `<name>` (WordNet id) and a `<bndbox>`), and Kaggle's
`LOC_val_solution.csv` (`ImageId,PredictionString`, the string repeating
`wnid xmin ymin xmax ymax`). Coordinates are kept as given (pixels of the original image);
`label` is the WordNet id, which gives `evaluate` the true class of images in a flat folder.
"""

import csv
import os
import xml.etree.ElementTree as ElementTree

COLUMNS = ("path", "xmin", "ymin", "xmax", "ymax", "label")


def _image_name(name, extension):
    return name if os.path.splitext(name)[1] else name + extension


def rows_from_xml(paths, extension=".JPEG"):
    """Rows from ILSVRC XML annotation files.

    Args:
        paths: the XML files.
        extension: appended to an image name that has no extension (default ".JPEG").

    Example:

    ```python
    rows = rows_from_xml(["ILSVRC2012_val_00000001.xml"])  # [{"path": ..., "xmin": ..., "label": ...}]
    ```
    """
    rows = []
    for path in paths:
        root = ElementTree.parse(path).getroot()
        name = root.findtext("filename") or os.path.splitext(os.path.basename(path))[0]
        for item in root.iter("object"):
            box = item.find("bndbox")
            if box is None:
                raise ValueError(f"Expected a <bndbox> in every <object> of {path}. Received: none")
            rows.append({
                "path": _image_name(name.strip(), extension),
                **{k: int(float(box.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")},
                "label": (item.findtext("name") or "").strip(),
            })
    return rows


def rows_from_loc_solution(path, extension=".JPEG"):
    """Rows from a `LOC_val_solution.csv` file.

    Args:
        path: the CSV file (`ImageId,PredictionString`).
        extension: appended to each `ImageId` that has no extension (default ".JPEG").

    Example:

    ```python
    rows = rows_from_loc_solution("LOC_val_solution.csv")
    ```
    """
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"ImageId", "PredictionString"} <= set(reader.fieldnames):
            raise ValueError(
                f"Expected the columns ImageId,PredictionString (LOC_val_solution.csv) in {path}. "
                f"Received: {reader.fieldnames}"
            )
        for record in reader:
            tokens = record["PredictionString"].split()
            if len(tokens) % 5:
                raise ValueError(
                    f"Expected groups of 'wnid xmin ymin xmax ymax' for {record['ImageId']} in {path}. "
                    f"Received: {record['PredictionString']!r}"
                )
            for i in range(0, len(tokens), 5):
                wnid, x0, y0, x1, y1 = tokens[i : i + 5]
                rows.append({"path": _image_name(record["ImageId"], extension), "xmin": int(x0),
                             "ymin": int(y0), "xmax": int(x1), "ymax": int(y1), "label": wnid})
    return rows


def imagenet_rows(source, extension=".JPEG"):
    """Rows from `source`: a folder of XML files, one XML file, or a LOC_val_solution.csv.

    Args:
        source: the folder, XML file or CSV file.
        extension: appended to image names that have no extension (default ".JPEG").

    Example:

    ```python
    rows = imagenet_rows("ILSVRC2012_bbox_val_v3/val")
    ```
    """
    if os.path.isdir(source):
        paths = sorted(os.path.join(source, f) for f in os.listdir(source) if f.lower().endswith(".xml"))
        if not paths:
            raise ValueError(f"Expected ILSVRC .xml annotation files in {source!r}. Received: none")
        return rows_from_xml(paths, extension)
    if source.lower().endswith(".xml"):
        return rows_from_xml([source], extension)
    return rows_from_loc_solution(source, extension)


def is_imagenet_source(source):
    """True for an XML folder / file or a LOC_val_solution.csv (not a boxes.csv).

    Args:
        source: a folder or a file path.

    Example:

    ```python
    is_imagenet_source("LOC_val_solution.csv")  # True
    ```
    """
    if os.path.isdir(source) or source.lower().endswith(".xml"):
        return True
    with open(source, newline="") as f:
        header = f.readline()
    return header.startswith("ImageId")


def write_boxes_csv(rows, path):
    """Writes `rows` to `path` as a boxes.csv (`COLUMNS`); returns `path`.

    Args:
        rows: dicts with the keys of `COLUMNS`.
        path: the CSV file (its folder is created).

    Example:

    ```python
    write_boxes_csv(imagenet_rows("LOC_val_solution.csv"), "val/boxes.csv")
    ```
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def convert(source, destination, extension=".JPEG"):
    """Writes `destination` (boxes.csv) from ImageNet annotations `source`; returns the row count.

    Args:
        source: an XML folder, an XML file or a LOC_val_solution.csv.
        destination: the boxes.csv to write.
        extension: appended to image names that have no extension (default ".JPEG").

    Example:

    ```python
    count = convert("LOC_val_solution.csv", "val/boxes.csv")
    ```
    """
    rows = imagenet_rows(source, extension)
    write_boxes_csv(rows, destination)
    return len(rows)
