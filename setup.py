from setuptools import find_packages, setup

# Export and deployment: ONNX (tf2onnx, onnx, onnxruntime), LiteRT, video (OpenCV).
EXPORT = ["tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "opencv-python-headless"]

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
    ],
    extras_require={
        "test": ["pytest>=8", "nbformat", "nbclient", "ipykernel"] + EXPORT,
        "export": EXPORT,
        "tensorrt": EXPORT + ["tensorrt", "torch"],  # engines: an NVIDIA GPU with CUDA
    },
    entry_points={"console_scripts": ["keras-saliency=keras_saliency.cli:main"]},
)
