from setuptools import find_packages, setup

# Export and deployment: ONNX (tf2onnx, onnx, onnxruntime), LiteRT, video (OpenCV).
EXPORT = ["tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "opencv-python-headless"]
# Bulk explanations on Apache Beam (DirectRunner, Dataflow, Flink, Spark); Parquet rows via pyarrow.
# protobuf: the range both TensorFlow 2.21 (>=6.31.1,<8) and apache-beam 2.77 (<7) accept.
BEAM = ["apache-beam>=2.77,<3", "protobuf>=6.31.1,<7", "pyarrow"]
# The live web demo (`keras-saliency serve`); its browser test drives Debian's chromium with Selenium.
APP = ["gradio>=6,<7"]

setup(
    name="keras-saliency",
    version="0.1.0",
    description="Real-time saliency masks for Keras image classifiers (Dabkowski & Gal, NIPS 2017)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_saliency", "keras_saliency.*"]),
    package_data={"keras_saliency.pretrained": ["*.keras", "*.json"], "keras_saliency.samples": ["*.jpg", "*.md"]},
    include_package_data=True,
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "tensorflow-datasets>=4.9",
        # tensorflow-datasets 4.9 imports it on Python >= 3.9 without declaring it
        "importlib_resources",
        "numpy",
        "scipy",
        "pillow",
        "matplotlib",
        "click>=8",
        "tensorboard",  # tf.summary (train --tensorboard, callbacks.MaskImages): TensorFlow >= 2.21 leaves it out
    ],
    extras_require={
        "test": ["pytest>=8", "nbformat", "nbclient", "ipykernel", "selenium>=4.11"] + EXPORT + BEAM + APP,
        "export": EXPORT,
        "beam": BEAM,
        "app": APP,
        "tensorrt": EXPORT + ["tensorrt", "torch"],  # engines: an NVIDIA GPU with CUDA
    },
    entry_points={"console_scripts": ["keras-saliency=keras_saliency.cli:main"]},
)
