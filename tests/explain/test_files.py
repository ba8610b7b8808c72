"""explain/files.py: the library calls behind `keras-saliency explain`."""

import pytest


def test_class_id_from_follows_the_runtime_rule():
    """One class-name rule for the library and the TF-free runtime: ids, exact names, any case,
    the first name of a list, folder names before readable names; a one-line ValueError that names
    the parameter (the command line prints it as --class)."""
    import pytest

    from keras_saliency.explain.files import class_id_from
    from keras_saliency.flags import as_flags

    folders, readable = ["n01", "n02"], ["goldfish, Carassius auratus", "tabby cat"]
    assert class_id_from(None, [folders, readable], 2) is None
    assert class_id_from("auto", [folders, readable], 2) is None
    assert class_id_from("1", [folders, readable], 2) == 1
    assert class_id_from("n02", [folders, readable], 2) == 1
    assert class_id_from("Goldfish", [folders, readable], 2) == 0
    assert class_id_from("Tabby Cat", [None, readable], 2) == 1
    with pytest.raises(ValueError, match=r"Expected a class id in \[0, 2\)\. Received: `class_name=7`"):
        class_id_from("7", [folders, readable], 2)
    with pytest.raises(ValueError, match="Received: `class_name=unicorn`") as caught:
        class_id_from("unicorn", [folders, readable], 2)
    assert as_flags(str(caught.value)).endswith("Received: --class unicorn")


@pytest.mark.slow
def test_explain_keeps_no_decoded_original_of_a_batch(tmp_path):
    """Large photos are decoded one at a time: a batch of four 20 Mpx photos holds at most about
    one decoded original (60 MB) in NumPy memory, not four (240 MB)."""
    import tracemalloc

    from PIL import Image

    from keras_saliency import pretrained
    from keras_saliency.explain.files import explain_files

    for i in range(4):
        Image.new("RGB", (5000, 4000), (i * 40, 80, 120)).save(tmp_path / f"big{i}.png")
    model = pretrained.load("cifar10")
    files = sorted(str(p) for p in tmp_path.glob("big*.png"))
    tracemalloc.start()
    try:
        explain_files(model, files, str(tmp_path / "out"), batch_size=4, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 150 << 20, f"{peak / 2**20:.0f} MiB"
    assert len(list((tmp_path / "out").glob("*_saliency.png"))) == 4
