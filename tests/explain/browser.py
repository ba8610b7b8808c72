"""A real headless browser for the web demo's tests and its screenshot script: Debian's chromium
driven by Selenium through Debian's chromedriver (nothing is downloaded), and `keras-saliency
serve` in a subprocess."""

import base64
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")  # a test-pattern webcam


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(arguments, port, log_path, timeout=240):
    """`keras-saliency serve ARGUMENTS --host 127.0.0.1 --port PORT` in a subprocess (output in
    `log_path`); returns it once its page answers. Stop it with `stop(process)`."""
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_saliency.cli", "serve", *arguments, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited ({process.returncode}): {open(log_path).read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(1)
    stop(process)
    raise RuntimeError(f"serve did not answer in {timeout} s: {open(log_path).read()}")


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def chromium(profile_dir, width=1400, height=1000):
    """A headless chromium (Selenium WebDriver) with a fresh profile in `profile_dir`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def upload_and_wait(driver, url, photo, timeout=120):
    """Opens the app at `url`, uploads `photo` and waits for the mask over it. Returns that
    picture (RGB uint8)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    upload = WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image input[type=file]"))[0]
    upload.send_keys(os.path.abspath(photo))

    def overlay_source(d):
        pictures = d.find_elements(By.CSS_SELECTOR, "#overlay img")
        return (pictures[0].get_attribute("src") if pictures else None) or False

    source = WebDriverWait(driver, timeout).until(overlay_source)
    WebDriverWait(driver, 30).until(lambda d: "masks/s" in d.find_element(By.ID, "speed").text)
    return read_picture(source)


def start_webcam(driver, timeout=60):
    """Switches the open app to its Live webcam tab and starts streaming (chromium's fake camera)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def button(container, text):
        def find(d):
            found = [b for b in d.find_elements(By.CSS_SELECTOR, f"{container} button") if text in b.text]
            return found[0] if found and found[0].is_displayed() else False
        return WebDriverWait(driver, timeout).until(find)

    button("", "Live webcam").click()
    button("#camera", "Webcam").click()  # "Click to Access Webcam"
    button("#camera", "Record").click()


def read_picture(source):
    """An <img> src (a URL or a data: URL) -> RGB uint8."""
    from PIL import Image

    if source.startswith("data:"):
        data = base64.b64decode(source.split(",", 1)[1])
    else:
        with urllib.request.urlopen(source, timeout=30) as response:
            data = response.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
