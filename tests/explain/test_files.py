"""explain/files.py: the library calls behind `keras-saliency explain`."""


def test_class_id_from_follows_the_runtime_rule():
    """One class-name rule for the library and the TF-free runtime: ids, exact names, any case,
    the first name of a list, folder names before readable names; a one-line CommandError."""
    import pytest

    from keras_saliency.errors import CommandError
    from keras_saliency.explain.files import class_id_from

    folders, readable = ["n01", "n02"], ["goldfish, Carassius auratus", "tabby cat"]
    assert class_id_from(None, [folders, readable], 2) is None
    assert class_id_from("auto", [folders, readable], 2) is None
    assert class_id_from("1", [folders, readable], 2) == 1
    assert class_id_from("n02", [folders, readable], 2) == 1
    assert class_id_from("Goldfish", [folders, readable], 2) == 0
    assert class_id_from("Tabby Cat", [None, readable], 2) == 1
    with pytest.raises(CommandError, match=r"Expected a class id in \[0, 2\)\. Received: --class 7"):
        class_id_from("7", [folders, readable], 2)
    with pytest.raises(CommandError, match="Received: --class unicorn"):
        class_id_from("unicorn", [folders, readable], 2)
