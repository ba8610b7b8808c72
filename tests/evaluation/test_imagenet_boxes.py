"""ImageNet's box formats (ILSVRC XML files, LOC_val_solution.csv) become boxes.csv with a label
column, which gives `evaluate` the classes of a flat folder of validation images."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_saliency.cli import main
from keras_saliency.evaluation import imagenet_boxes
from keras_saliency.evaluation.data import load_evaluation_images, read_boxes_csv

XML = """<annotation>
  <folder>val</folder><filename>{name}</filename>
  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>
  {objects}
</annotation>"""
OBJECT = "<object><name>{wnid}</name><bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>"


@pytest.fixture
def imagenet_val(tmp_path):
    """Two 'validation images' (64x48) in a flat folder with XML annotations, like ILSVRC2012."""
    images, annotations = tmp_path / "val", tmp_path / "xml"
    images.mkdir()
    annotations.mkdir()
    specs = {"ILSVRC2012_val_00000001": ("n02", [(8, 4, 31, 23)]),
             "ILSVRC2012_val_00000002": ("n01", [(0, 0, 15, 15), (40, 30, 63, 47)])}
    for name, (wnid, boxes) in specs.items():
        Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(images / f"{name}.JPEG")
        objects = "".join(OBJECT.format(*b, wnid=wnid) for b in boxes)
        (annotations / f"{name}.xml").write_text(XML.format(name=name, width=64, height=48, objects=objects))
    return images, annotations


def test_xml_folder_and_loc_solution_give_the_same_rows(imagenet_val, tmp_path):
    _, annotations = imagenet_val
    rows = imagenet_boxes.imagenet_rows(str(annotations))
    assert rows == [
        {"path": "ILSVRC2012_val_00000001.JPEG", "xmin": 8, "ymin": 4, "xmax": 31, "ymax": 23, "label": "n02"},
        {"path": "ILSVRC2012_val_00000002.JPEG", "xmin": 0, "ymin": 0, "xmax": 15, "ymax": 15, "label": "n01"},
        {"path": "ILSVRC2012_val_00000002.JPEG", "xmin": 40, "ymin": 30, "xmax": 63, "ymax": 47, "label": "n01"},
    ]
    solution = tmp_path / "LOC_val_solution.csv"
    solution.write_text("ImageId,PredictionString\n"
                        "ILSVRC2012_val_00000001,n02 8 4 31 23 \n"
                        "ILSVRC2012_val_00000002,n01 0 0 15 15 n01 40 30 63 47 \n")
    assert imagenet_boxes.imagenet_rows(str(solution)) == rows
    assert imagenet_boxes.is_imagenet_source(str(solution)) and imagenet_boxes.is_imagenet_source(str(annotations))
    solution.write_text("ImageId,PredictionString\nX,n01 1 2 3\n")
    with pytest.raises(ValueError, match="groups of 'wnid xmin ymin xmax ymax'"):
        imagenet_boxes.imagenet_rows(str(solution))


def test_flat_folder_takes_classes_and_scaled_boxes_from_the_labels(imagenet_val, tmp_path):
    images, annotations = imagenet_val
    boxes_csv = str(tmp_path / "boxes.csv")
    result = CliRunner().invoke(main, ["convert-boxes", str(annotations), "--output", boxes_csv])
    assert result.exit_code == 0 and "Wrote 3 boxes" in result.output
    assert not imagenet_boxes.is_imagenet_source(boxes_csv)
    assert len(read_boxes_csv(boxes_csv)["ILSVRC2012_val_00000002.JPEG"]) == 2
    data = load_evaluation_images(str(images), 32, boxes_csv=boxes_csv, class_names=["n00", "n01", "n02"])
    assert data.class_ids.tolist() == [2, 1]  # from the labels, not predicted
    # 64x48 -> 32x32: x halves, y scales by 2/3 (inclusive pixel boxes)
    assert data.boxes[0].tolist() == [[4, 2, 15, 15]]
    with pytest.raises(ValueError, match="unknown labels"):
        load_evaluation_images(str(images), 32, boxes_csv=boxes_csv, class_names=["a", "b"])
