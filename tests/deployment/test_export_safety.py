"""An export never loses the files it replaces: a real kill during the write, a real full disk
(a small tmpfs, where this machine lets the test mount one) and a link at the output path."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("ai_edge_litert")

SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-saliency")
EXPORT = ["export", "cifar10", "--format", "tflite", "--verification-images", "8"]


def _export(output, *extra, check=True):
    result = subprocess.run([SCRIPT, *EXPORT, "--output", str(output), *extra], capture_output=True, text=True,
                            timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def _stamp(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(str(path) + ".report.json") as f:
        return data, f.read()


@pytest.fixture(scope="module")
def first_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_safety")
    _export(folder / "c10.tflite")
    return folder


def test_a_kill_during_an_overwrite_leaves_the_previous_export(first_export, tmp_path):
    output = tmp_path / "c10.tflite"
    for name in ("c10.tflite", "c10.tflite.report.json"):
        (tmp_path / name).write_bytes((first_export / name).read_bytes())
    before = _stamp(output)
    process = subprocess.Popen([SCRIPT, *EXPORT, "--output", str(output), "--overwrite"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    staged = []
    while time.monotonic() < deadline and process.poll() is None:
        staged = [os.path.join(tmp_path, d, "c10.tflite") for d in os.listdir(tmp_path)
                  if d.startswith(".keras-saliency-export-")]
        if any(os.path.exists(path) for path in staged):
            break  # the new file is being written (or verified) in the staging folder
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert staged, "the export never started writing"
    assert _stamp(output) == before  # the good export and its report, untouched
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == ["c10.tflite", "c10.tflite.report.json"]
    # The next export to the same path still works (nothing half-written under the final name).
    result = _export(output, "--overwrite")
    assert "Wrote c10.tflite" in result.stdout + result.stderr


def test_overwriting_a_link_replaces_the_link_not_its_target(first_export, tmp_path):
    target = tmp_path / "precious.bin"
    target.write_bytes(b"not yours")
    link = tmp_path / "c10.tflite"
    link.symlink_to(target)
    _export(link, "--overwrite")
    assert target.read_bytes() == b"not yours"
    assert not link.is_symlink() and link.stat().st_size == (first_export / "c10.tflite").stat().st_size
    with open(str(link) + ".report.json") as f:
        report = json.load(f)
    assert report["output"] == str(link) and [f["path"] for f in report["files"]] == [str(link)]


def test_a_full_disk_leaves_the_previous_export_and_says_so_in_one_line(first_export, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    size = (first_export / "c10.tflite").stat().st_size
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size * 3 // 2}", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        output = disk / "c10.tflite"
        for name in ("c10.tflite", "c10.tflite.report.json"):
            (disk / name).write_bytes((first_export / name).read_bytes())
        before = _stamp(output)
        result = _export(output, "--overwrite", check=False)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert errors == ["Error: No space left on device; the disk is full: free some space or give --output "
                          "on another disk"], result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        assert _stamp(output) == before
        assert sorted(os.listdir(disk)) == ["c10.tflite", "c10.tflite.report.json"]  # no staging left
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
