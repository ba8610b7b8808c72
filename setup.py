# Everything is in pyproject.toml; this shim exists for Apache Beam's `--setup_file ./setup.py`
# (workers install the package from it).
from setuptools import setup

setup()
