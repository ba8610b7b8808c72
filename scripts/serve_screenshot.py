"""The docs' screenshot of the web demo: `keras-saliency serve` with a shipped model, a real
photo uploaded in headless chromium (Debian's chromium and chromium-driver, Selenium), the page
saved once the mask is shown.

    python scripts/serve_screenshot.py [--model imagenet-darknet-tiny] [--photo keras_saliency/samples/cat.jpg]
                                       [--output docs/images/serve.png]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: tests.browser

from tests import browser  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="imagenet-darknet-tiny")
    parser.add_argument("--photo", default=os.path.join("keras_saliency", "samples", "cat.jpg"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800, help="At least (the whole page is saved).")
    parser.add_argument("--output", default=os.path.join("docs", "images", "serve.png"))
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as work:
        port = browser.free_port()
        server = browser.start_serve(["--model", args.model], port, os.path.join(work, "serve.log"))
        try:
            driver = browser.chromium(os.path.join(work, "profile"), width=args.width, height=args.height + 100)
            try:
                browser.upload_and_wait(driver, f"http://127.0.0.1:{port}/", args.photo)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the whole page
                    "width": args.width, "height": max(args.height, height), "deviceScaleFactor": 1, "mobile": False})
                png = os.path.join(work, "page.png")
                driver.save_screenshot(png)
            finally:
                driver.quit()
        finally:
            browser.stop(server)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        Image.open(png).convert("RGB").save(args.output, optimize=True)
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
