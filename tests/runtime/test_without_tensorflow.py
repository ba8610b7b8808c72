"""`keras_saliency.runtime` in a real Python environment that has no TensorFlow and no Keras (a
fresh venv that sees only numpy, Pillow and this repository), not only with their imports blocked."""

import glob
import os
import subprocess
import sys
import venv

import numpy
import PIL

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _site_with(tmp_path, *packages):
    site = tmp_path / "site"
    site.mkdir()
    for package in packages:
        folder = os.path.dirname(package.__file__)
        os.symlink(folder, site / os.path.basename(folder))
        for libs in glob.glob(os.path.join(os.path.dirname(folder), "*.libs")):  # the wheels' shared libraries
            if not (site / os.path.basename(libs)).exists():
                os.symlink(libs, site / os.path.basename(libs))
    return site


def test_runtime_imports_in_a_venv_without_tensorflow_or_keras(tmp_path):
    venv.create(tmp_path / "venv", with_pip=False, system_site_packages=False)
    python = str(tmp_path / "venv" / "bin" / "python")
    site = _site_with(tmp_path, numpy, PIL)
    code = (
        "import importlib.util as u\n"
        "assert u.find_spec('tensorflow') is None and u.find_spec('keras') is None\n"
        "import keras_saliency.runtime\n"
        "from keras_saliency.runtime import images, overlays, classes\n"
        "import numpy as np\n"
        "picture = overlays.overlay(np.zeros((8, 8, 3), np.uint8), np.ones((4, 4), np.float32))\n"
        "assert picture.shape == (8, 8, 3)\n"
        "assert classes.resolve_class('cat', ['dog', 'cat']) == 1\n"
        "import sys; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join([str(site), REPO])}
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


def test_the_command_without_click_says_how_to_install_it(tmp_path):
    venv.create(tmp_path / "venv", with_pip=False, system_site_packages=False)
    python = str(tmp_path / "venv" / "bin" / "python")
    site = _site_with(tmp_path, numpy, PIL)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join([str(site), REPO])}
    result = subprocess.run([python, "-m", "keras_saliency.launcher", "--help"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("Error: the keras-saliency command needs click, matplotlib: "
                                     "pip install click matplotlib (or reinstall keras-saliency, which depends on them)")
    assert sys.executable != python
