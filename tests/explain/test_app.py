"""The live web demo (`keras_saliency.explain.app`, `keras-saliency serve`): the explainer on a tiny model,
the command's refusals, and the real app in a real headless browser (Debian's chromium)."""

import os
import re
import shutil
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from keras_saliency import cli
from keras_saliency.explain.app import PREDICTED, LiveExplainer, _unique_labels
from tests.explain import browser

pytestmark = pytest.mark.backends  # the Keras model's video and web demo on every backend

SAMPLE_PHOTO = os.path.join(os.path.dirname(os.path.dirname(cli.__file__)), "samples", "cat.jpg")


@pytest.fixture(scope="module")
def tiny_model():
    from keras_saliency.models.model import SaliencyModel
    from keras_saliency.testing import TINY_TAPS, tiny_classifier

    return SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0)


def test_explainer_masks_scores_and_pictures(tiny_model):
    from keras_saliency.testing import PATCH_CLASS_NAMES, patch_images

    explainer = LiveExplainer(tiny_model, list(PATCH_CLASS_NAMES), top_k=3)
    images, _, _ = patch_images(2, seed=1)
    image = images[0].astype(np.uint8)
    result = explainer(image)  # 32 x 32: the model's size, so no resizing anywhere
    probabilities = np.asarray(explainer._probabilities(image[None].astype(np.float32)))[0]
    assert result.class_id == int(np.argmax(probabilities))
    assert list(result.scores) == [PATCH_CLASS_NAMES[c] for c in np.argsort(-probabilities)[:3]]
    np.testing.assert_allclose(list(result.scores.values()), np.sort(probabilities)[::-1][:3], rtol=1e-5)
    expected = tiny_model.predict((image[None].astype(np.float32), np.array([result.class_id])), verbose=0)
    np.testing.assert_allclose(result.mask, expected[0, ..., 0], atol=1e-5)
    mask = result.mask[..., None]
    from keras_saliency.models.alternatives import blurred

    blur = np.asarray(blurred(image[None].astype(np.float32)))[0]  # removed pixels: the blurred image, as `explain`
    np.testing.assert_allclose(result.preserved, np.floor(image * mask + blur * (1 - mask)), atol=1)
    np.testing.assert_allclose(result.destroyed, np.floor(image * (1 - mask) + blur * mask), atol=1)
    assert result.overlay.shape == image.shape and result.overlay.dtype == np.uint8
    assert explainer.masks_per_s > 0 and len(explainer.recent) == 1  # the warm-up call is not counted

    chosen = explainer(image, class_id=2)
    assert chosen.class_id == 2 and chosen.class_name == "checkerboard"
    assert chosen.probability == pytest.approx(probabilities[2], rel=1e-5)
    expected = tiny_model.predict((image[None].astype(np.float32), np.array([2])), verbose=0)
    np.testing.assert_allclose(chosen.mask, expected[0, ..., 0], atol=1e-5)
    assert "checkerboard" in explainer.status(chosen) and "masks/s" in explainer.status(chosen)


def test_explainer_any_image_size_and_shrinks_large_ones(tiny_model):
    explainer = LiveExplainer(tiny_model, display_side=80)
    rng = np.random.default_rng(0)
    result = explainer(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    assert result.overlay.shape == (50, 70, 3) and result.mask.shape == (50, 70)
    assert 0.0 <= result.mask.min() and result.mask.max() <= 1.0
    large = explainer(rng.integers(0, 256, (300, 200, 4), dtype=np.uint8))  # RGBA
    assert large.overlay.shape == (80, 53, 3) and large.preserved.shape == (80, 53, 3)
    grey = explainer(rng.integers(0, 256, (32, 32), dtype=np.uint8))
    assert grey.overlay.shape == (32, 32, 3)
    assert all(name.isdigit() for name in grey.scores)  # no class names: the ids


def test_explainer_uses_the_runtime_for_masks(tiny_model):
    calls = []

    def runtime(images, class_ids):  # the `deployment.load_runtime` interface
        calls.append(np.asarray(class_ids).tolist())
        masks = np.zeros((len(images), 8, 8, 1), np.float32)
        masks[:, :, :4] = 1.0  # the left half
        return {"mask": masks, "exists": np.ones((len(images), 1), np.float32)}

    explainer = LiveExplainer(tiny_model, runtime=runtime)
    image = np.full((32, 32, 3), 200, np.uint8)
    result = explainer(image, class_id=1)
    assert calls[-1] == [1]
    assert result.mask[:, :12].min() > 0.99 and result.mask[:, 20:].max() < 0.01
    from keras_saliency.models.alternatives import blurred

    blur = np.asarray(blurred(image[None].astype(np.float32)))[0]  # what replaces removed pixels
    np.testing.assert_allclose(result.destroyed[:, :12], blur[:, :12], atol=2)
    np.testing.assert_allclose(result.preserved[:, 20:], blur[:, 20:], atol=2)
    np.testing.assert_allclose(result.preserved[:, :12], image[:, :12], atol=2)


def test_explainer_refuses_what_does_not_fit(tiny_model):
    with pytest.raises(ValueError, match=r"Expected 4 class names .* Received: 2"):
        LiveExplainer(tiny_model, ["a", "b"])
    explainer = LiveExplainer(tiny_model)
    with pytest.raises(ValueError, match=r"Expected a class id in \[0, 4\)\. Received: 7"):
        explainer(np.zeros((32, 32, 3), np.uint8), class_id=7)
    with pytest.raises(ValueError, match=r"Expected an RGB image .* Received: shape \(32, 32, 2\)"):
        explainer(np.zeros((32, 32, 2), np.uint8))
    assert explainer.class_choices()[0][1] == PREDICTED and len(explainer.class_choices()) == 5


def test_unique_labels():
    assert _unique_labels(["crane", "cat", "crane"], 3) == ["crane (0)", "cat", "crane (2)"]
    assert _unique_labels(None, 2) == ["0", "1"]


def test_serve_without_gradio_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if it were not installed
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 2
    assert 'pip install "keras-saliency[app]" (from a clone: pip install ".[app]")' in result.output
    assert "Traceback" not in result.output


def _images_counted(status):
    """The N of "... mean over the last N images" in the app's status line (0 if absent)."""
    found = re.search(r"last (\d+) image", status)
    return int(found.group(1)) if found else 0


@pytest.mark.skipif(not os.path.exists(browser.CHROMIUM), reason=f"no {browser.CHROMIUM}: install Debian's "
                    "chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)")
@pytest.mark.slow
def test_serve_in_a_headless_browser(tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = tmp_path / "cat.jpg"  # a real photo shipped with the package
    shutil.copy(SAMPLE_PHOTO, photo)
    port = browser.free_port()
    server = browser.start_serve(["--model", "cifar10", "--top-k", "3"], port, tmp_path / "serve.log")
    try:
        driver = browser.chromium(tmp_path / "chromium-profile")
        try:
            shown = browser.upload_and_wait(driver, f"http://127.0.0.1:{port}/", photo)
            assert "keras-saliency" in driver.title
            scores = driver.find_element(By.ID, "scores").text
            speed = driver.find_element(By.ID, "speed").text
            browser.start_webcam(driver)  # then the live tab: frames keep coming and being explained
            WebDriverWait(driver, 90).until(lambda d: _images_counted(d.find_element(By.ID, "speed").text) >= 4)
        finally:
            driver.quit()
    finally:
        browser.stop(server)
    original = np.asarray(Image.open(photo).convert("RGB").resize(shown.shape[1::-1], Image.BILINEAR))
    assert shown.shape == original.shape == (213, 320, 3)
    difference = np.abs(shown.astype(np.float32) - original.astype(np.float32)).mean()
    assert difference > 10, f"the overlay looks like the input (mean difference {difference:.1f})"
    assert "cat" in scores, scores  # cifar10's classifier on a cat photo
    assert "masks/s" in speed and "Explaining" in speed


def test_uploads_are_read_by_the_package_reader_through_a_real_gradio_request(tiny_model, tmp_path):
    """Through Gradio's own client and server: a 16-bit grayscale photo is explained as `explain`
    reads it, an image over the pixel limit and a corrupt file get one line in the status, and
    the server goes on."""
    pytest.importorskip("gradio")
    from gradio_client import Client, handle_file
    from PIL import Image

    from keras_saliency.explain.app import build_app, launch

    explainer = LiveExplainer(tiny_model, top_k=2)
    app = build_app(explainer)
    url = launch(app, port=browser.free_port(), block=False)
    try:
        client = Client(url, verbose=False)
        deep = (np.random.default_rng(0).uniform(0, 65535, (40, 48))).astype(np.uint16)
        Image.fromarray(deep).save(tmp_path / "deep.png")
        result = client.predict(handle_file(str(tmp_path / "deep.png")), PREDICTED, api_name="/explain_photo")
        assert result[0] is not None and "masks/s" in result[4]
        (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        result = client.predict(handle_file(str(tmp_path / "corrupt.png")), PREDICTED, api_name="/explain_photo")
        assert result[0] is None and result[4].startswith("Could not read corrupt.png: ")
        Image.new("L", (8000, 7000)).save(tmp_path / "huge.png")  # 56 Mpx, a few hundred KB
        result = client.predict(handle_file(str(tmp_path / "huge.png")), PREDICTED, api_name="/explain_photo")
        assert result[0] is None and "Mpx" in result[4], result[4]
    finally:
        app.close()
