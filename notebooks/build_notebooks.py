"""Writes the notebooks of this folder (outputs empty). Edit the cells here, then run
`python notebooks/build_notebooks.py`; the test suite executes the written notebooks."""

import os

import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell, new_code_cell

REPO = "keras-saliency/keras-saliency"

def badge(name):
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{name})")

SETUP = '''# Colab: install the package (elsewhere, install it first: `pip install ".[cli,export]"` in a clone).
import os
import sys

if "google.colab" in sys.modules:
    get_ipython().run_line_magic("pip", "install -q 'keras-saliency[cli,export] @ git+https://github.com/%s'")
# KERAS_SALIENCY_FAST=1 (the test suite's fast mode): fewer images and steps, same code.
FAST = os.environ.get("KERAS_SALIENCY_FAST") == "1"''' % REPO

def write(name, cells):
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"  # stable ids: rebuilding changes nothing that was not edited
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}, "colab": {"provenance": []}, "accelerator": "GPU"})
    nbformat.write(nb, os.path.join(os.path.dirname(os.path.abspath(__file__)), name))

md, code = new_markdown_cell, new_code_cell

write("01_quickstart.ipynb", [
    md(badge("01_quickstart.ipynb") + '''

# Quickstart: explain a CIFAR-10 classifier with the shipped masker

One forward pass of the learned masker (Dabkowski & Gal, 2017) gives a saliency mask for any image and
any class. This notebook loads the masker shipped with the package (trained against an 86.8% CIFAR-10
classifier), explains CIFAR-10 test images, turns the `confidence` knob and asks for a class that is not
in the image. Runs on a CPU in about a minute; the CIFAR-10 test set (160 MB) is downloaded by
tensorflow-datasets on first use.'''),
    code(SETUP),
    code('''import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow_datasets as tfds

import keras_saliency
from keras_saliency.models.alternatives import blurred
from keras_saliency.reports.pictures import plot_panels

model = keras_saliency.pretrained.load("cifar10")          # masker + its frozen classifier
names = keras_saliency.pretrained.display_names("cifar10")
info = keras_saliency.pretrained.info("cifar10")
print(f"classifier accuracy {info['classifier_accuracy']:.1%} on {info['accuracy_split']}")'''),
    md("## Explain a batch of test images\n\nImages are RGB pixels in [0, 255]. `model.predict((images, class_ids))` "
       "returns masks in [0, 1] at image resolution; here the class is the classifier's own prediction."),
    code('''count = 8 if FAST else 12
test = tfds.load("cifar10", split="test", as_supervised=True)
images, labels = (np.stack(a) for a in zip(*[(x.numpy(), y.numpy()) for x, y in test.take(count)]))
images = images.astype("float32")

probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model.classifier_logits(images)))
predicted = probabilities.argmax(-1)
masks = model.predict((images, predicted), verbose=0)
alternatives = keras.ops.convert_to_numpy(blurred(images))   # what replaces removed pixels

titles = [f"true {names[t]}, explained {names[p]} (p={probabilities[i, p]:.2f})"
          for i, (t, p) in enumerate(zip(labels, predicted))]
plot_panels(images, masks, titles, alternatives)
plt.show()
print("columns: image | mask | preserved (only the mask kept) | destroyed (the mask removed)")'''),
    md("## The classifier's scores on the preserved and destroyed images\n\nA good mask keeps the "
       "class when only the masked region is shown, and removes it when that region is blurred away."),
    code('''masks_small = masks
preserved = images * masks_small + alternatives * (1 - masks_small)
destroyed = images * (1 - masks_small) + alternatives * masks_small
def score(x):
    p = keras.ops.convert_to_numpy(keras.ops.softmax(model.classifier_logits(x)))
    return p[np.arange(len(x)), predicted]
print(f"{'class':<12}{'original':>10}{'preserved':>11}{'destroyed':>11}{'mask area':>11}")
for i in range(len(images)):
    print(f"{names[predicted[i]]:<12}{probabilities[i, predicted[i]]:>10.2f}{score(preserved)[i]:>11.2f}"
          f"{score(destroyed)[i]:>11.2f}{masks[i].mean():>11.2f}")'''),
    md("## The confidence knob\n\n`model.masker.set_confidence(c)` changes the class selector's threshold "
       "without retraining: low values keep anything resembling the class, high values only its most "
       "salient parts."),
    code('''trained = model.masker.confidence
levels = [-4.0, 0.0, 4.0, 8.0]
figure, axes = plt.subplots(min(4, count), len(levels) + 1, figsize=(2 * (len(levels) + 1), 2 * min(4, count)))
for row in range(min(4, count)):
    axes[row, 0].imshow(images[row].astype("uint8"))
    axes[row, 0].set_title(names[predicted[row]], fontsize=8)
for column, level in enumerate(levels, start=1):
    model.masker.set_confidence(level)
    knob_masks = model.predict((images, predicted), verbose=0)
    for row in range(min(4, count)):
        axes[row, column].imshow(knob_masks[row, ..., 0], vmin=0, vmax=1, cmap="jet")
        axes[row, column].set_title(f"confidence {level:g}\\nmean {knob_masks[row].mean():.2f}", fontsize=8)
for axis in axes.ravel():
    axis.set_axis_off()
model.masker.set_confidence(trained)
plt.tight_layout()
plt.show()'''),
    md("## A class that is not in the image\n\nAsk for the class the classifier finds least likely: the mask "
       "should be nearly empty and the \"exists\" probability low."),
    code('''absent = probabilities.argmin(-1)
present_out = model.explain(images, predicted)  # {"mask", "exists"}
absent_out = model.explain(images, absent)
print(f"{'':<20}{'mean mask':>10}{'exists':>8}")
print(f"{'predicted class':<20}{present_out['mask'].mean():>10.3f}{present_out['exists'].mean():>8.2f}")
print(f"{'least likely class':<20}{absent_out['mask'].mean():>10.3f}{absent_out['exists'].mean():>8.2f}")
plot_panels(images[:4], absent_out["mask"][:4], [f"asked for {names[a]}" for a in absent[:4]], alternatives[:4])
plt.show()'''),
    md("Next: `02_train_your_own.ipynb` trains a masker for your own classifier; `03_deploy.ipynb` exports "
       "it to TFLite, ONNX and TensorRT. From a shell: `keras-saliency explain photos/ --model cifar10`."),
])

write("02_train_your_own.ipynb", [
    md(badge("02_train_your_own.ipynb") + '''

# Train a masker for your own Keras classifier

Part 1 trains a small CIFAR-10 classifier and then a masker against it (tensorflow-datasets; any image
folder works the same way with `keras_saliency.data.scan_image_folder` / `folder_dataset`). Part 2 is
the ImageNet recipe with a Keras Applications ResNet50 on a GPU: `tf.distribute` and mixed precision.

Expected time: part 1 about 2 minutes per classifier epoch and 1 minute per masker epoch on a 2-core
CPU (measured for the shipped CIFAR-10 models, which took 20 and 3 epochs), much less on a Colab GPU.
Part 2: see the estimate in its section.'''),
    code(SETUP),
    code('''import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from keras_saliency.models.classifiers import cifar_classifier, compile_classifier, scale_taps
from keras_saliency.data import tfds_dataset
from keras_saliency import SaliencyModel
from keras_saliency.reports.pictures import plot_panels

keras.utils.set_random_seed(0)
BATCH = 16 if FAST else 128
STEPS = 2 if FAST else None          # None: whole epochs
train, class_names = tfds_dataset("cifar10", 32, BATCH, training=True, seed=0)
test, _ = tfds_dataset("cifar10", 32, BATCH, training=False)
print(class_names)'''),
    md("## Part 1a: your classifier\n\nAny Keras classifier taking [0, 255] RGB images works (give its "
       "preprocessing otherwise). This one is the shipped model's architecture, smaller."),
    code('''classifier = cifar_classifier(num_classes=10, base_filters=8 if FAST else 32)
classifier_epochs = 1 if FAST else 10
compile_classifier(classifier, learning_rate=1e-3, steps=classifier_epochs * (STEPS or 391))
classifier.fit(train, epochs=classifier_epochs, steps_per_epoch=STEPS, validation_data=test,
               validation_steps=STEPS, verbose=2)'''),
    md("## Part 1b: the masker\n\nThe classifier is its own encoder (its layers at strides 1, 2, 4, 8). It "
       "stays frozen: only the decoder and the class selector train, with the masking objective as "
       "`train_step`."),
    code('''model = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(4), seed=0, class_names=class_names)
model.compile()                      # "auto": the recipe's Adam, learning rate 1e-3
history = model.fit(train, epochs=1 if FAST else 5, steps_per_epoch=STEPS, verbose=2)
print({k: round(v[-1], 3) for k, v in history.history.items()})'''),
    code('''images, labels = next(iter(test))
images, labels = images[:6].numpy(), labels[:6].numpy()
masks = model.predict((images, labels), verbose=0)
plot_panels(images, masks, [class_names[l] for l in labels])
plt.show()
model.save("my_masker.keras")          # the classifier is saved inside; reload with keras.saving.load_model'''),
    md('''## Part 2: the ImageNet recipe (ResNet50, GPU)

The paper's setting: a Keras Applications ResNet50 with ImageNet weights as the classifier, its own
layers as the encoder, 224x224 images, ImageNet 2012 through tensorflow-datasets (its archives must be
downloaded by hand from image-net.org: set `IMAGENET_DIR`; without them the cell prints why and skips
the training). `MirroredStrategy` uses every GPU of the machine (one on Colab), mixed precision the GPU's
tensor cores.

Expected cost (an estimate, not a GPU measurement: no GPU with TensorFlow was available to us): one
masker training step took 1.5-3x (median 2x) one ordinary ResNet50 training step on the same hardware
(measured on a CPU, `scripts/training_cost.py`, docs/PERFORMANCE.md), so divide your GPU's ResNet50
training throughput by about 2. Memory was not measured: start at 32 images per 16 GB GPU with mixed
precision and halve the batch on an out-of-memory error.

In fast mode this runs with random weights, 64x64 images, mocked data and two steps on the CPU: the same
code.'''),
    code('''from keras_saliency.data.tfds_sources import DatasetUnavailable
from keras_saliency.models.encoders import application_classifier

gpus = tf.config.list_physical_devices("GPU")
if gpus and not FAST:
    keras.mixed_precision.set_global_policy("mixed_float16")
strategy = tf.distribute.MirroredStrategy()
print(f"{strategy.num_replicas_in_sync} replica(s), policy {keras.mixed_precision.global_policy().name}")

IMAGE = 64 if FAST else 224
PER_REPLICA = 4 if FAST else 32
IMAGENET_DIR = os.environ.get("IMAGENET_DIR", "/content/imagenet")   # ILSVRC2012 *.tar files
try:
    imagenet, _ = tfds_dataset("imagenet2012", IMAGE, PER_REPLICA * strategy.num_replicas_in_sync,
                               training=True, manual_dir=IMAGENET_DIR, seed=0)
except DatasetUnavailable as error:   # no ImageNet here: "Run all" goes on without part 2
    imagenet = None
    print(f"Skipping part 2 (no ImageNet data): {error.reason}. Set IMAGENET_DIR to the ILSVRC2012 archives.")
if imagenet is not None:
    with strategy.scope():
        resnet, preprocessing = application_classifier("resnet50", IMAGE, weights=None if FAST else "imagenet")
        imagenet_model = SaliencyModel.from_classifier(resnet, encoder="resnet50",
                                                       classifier_preprocessing=preprocessing, seed=0)
        imagenet_model.compile()
    imagenet_model.fit(imagenet, epochs=1, steps_per_epoch=2 if FAST else 5000, verbose=2)
keras.mixed_precision.set_global_policy("float32")'''),
    md("From a shell, the same runs: `keras-saliency train --dataset cifar10 --output runs/cifar10` and "
       "`keras-saliency train --dataset imagenet2012 --data-dir $IMAGENET_DIR --classifier resnet50 "
       "--encoder resnet50 --strategy mirrored --mixed-precision --output runs/imagenet` (the paper's two-phase "
       "schedule by default; `--dry-run` checks the whole setup in a few steps)."),
])

write("03_deploy.ipynb", [
    md(badge("03_deploy.ipynb") + '''

# Deploy the masker: SavedModel, int8 TFLite, ONNX, TensorRT

What gets deployed is the masker: `image` + `class_id` in, `mask` + `exists` out (and, for a float
export of a masker that reads its classifier's class layer, the classifier's `logits` and the class
it explained: the classifier and the masker in one graph). Every export is
checked against the Keras model on real images (max difference, rank correlation, top-20% IoU). The
int8 TFLite model runs with `ai-edge-litert` alone, without TensorFlow; TensorRT needs an NVIDIA GPU
(on Colab: Runtime > Change runtime type > GPU, then `pip install tensorrt`).'''),
    code(SETUP),
    code('''import numpy as np
import tensorflow_datasets as tfds

import keras_saliency
from keras_saliency.deployment import ExportRequest, EngineNotBuilt, export_masker
from keras_saliency.deployment.benchmark import benchmark_masker, benchmark_table
from keras_saliency.deployment.export import predicted_classes, report_table

model = keras_saliency.pretrained.load("cifar10")
count = 48 if FAST else 300
train = tfds.load("cifar10", split="train", as_supervised=True)
images = np.stack([x.numpy() for x, _ in train.take(count)]).astype("float32")
class_ids = predicted_classes(model, images)
split = count * 2 // 3            # calibrate on the first two thirds, verify on the rest
calibration, verification = (images[:split], class_ids[:split]), (images[split:], class_ids[split:])
os.makedirs("exported", exist_ok=True)

def export(path, request):
    report = export_masker(model, path, request, *calibration, *verification,
                           class_names=keras_saliency.pretrained.class_names("cifar10"))
    print(report_table(report))
    return report'''),
    md("## SavedModel (TF Serving, `tf.saved_model.load`)"),
    code('''export("exported/cifar10_saved_model", ExportRequest("saved_model"));'''),
    md("## int8 TFLite, run with ai-edge-litert (no TensorFlow) and compared with Keras"),
    code('''export("exported/cifar10-int8.tflite", ExportRequest("tflite", "int8"))

from ai_edge_litert.interpreter import Interpreter

runner = Interpreter(model_path="exported/cifar10-int8.tflite").get_signature_runner("serving_default")
out = runner(image=verification[0][:4], class_id=verification[1][:4])
keras_masks = model.masker({"image": verification[0][:4], "class_id": verification[1][:4]})["mask"]
print("mean |LiteRT - Keras| on 4 images:", float(np.abs(out["mask"] - np.asarray(keras_masks)).mean()))'''),
    md("## ONNX, and a TensorRT engine where a GPU and TensorRT are present"),
    code('''try:
    export("exported/cifar10.onnx", ExportRequest("onnx", "float16", trt=True))
except EngineNotBuilt as missing:
    print(f"ONNX written and verified; TensorRT engine not built: {missing}")'''),
    md("## One graph that classifies and explains\n\nA float export whose masker's class gate reproduces "
       "the classifier (the shipped ones) also returns the classifier's `logits` and the class it explained: "
       "a class id of -1 asks for the classifier's top-1 class, so one pass over the trunk answers "
       "\"what is it, and where\"."),
    code('''from keras_saliency.deployment.runtimes import load_runtime

runtime = load_runtime("exported/cifar10.onnx")              # the float32 ONNX model written above
out = runtime(verification[0][:4], np.full(4, -1, np.int32))  # -1: the classifier's top-1 class
names = keras_saliency.pretrained.class_names("cifar10")
print([names[c] for c in out["explained_class"]], out["logits"].shape, out["mask"].shape)'''),
    md("## Masks per second\n\nEach runtime against the bare encoder in the same runtime and Grad-CAM on "
       "the same classifier, measured in one run (see `docs/PERFORMANCE.md` for the figures on a 2-core CPU)."),
    code('''rows = benchmark_masker(model, batch_sizes=(1, 32), backends=("keras", "tflite_int8", "onnx"),
                        seconds=0.3 if FAST else 3.0, calibration_images=calibration[0],
                        calibration_class_ids=calibration[1], progress=lambda line: None)
print(benchmark_table(rows))'''),
])
print("ok")
