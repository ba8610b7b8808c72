"""`keras-saliency`: a thin click layer over the library.

Each command parses its flags, calls one library function and prints the result; how commands
run in a terminal (TensorFlow loaded quietly, one-line errors) lives in `keras_saliency.cli.console`.
The commands live by subject: `train` (demo, train), `evaluate` (convert-boxes, evaluate),
`explain` (explain, video, serve, explain-bulk) and `deploy` (export, benchmark). Only click and
the standard library load with the command, so `--help` and `--version` are instant.
"""

from keras_saliency.cli.group import (  # noqa: F401 (the group and the names its flags offer)
    BEAM_RUNNERS, DATASETS, DELETION_SUBSTRATES, METHOD_NAMES, MODEL_NAMES, PRESET_NAMES, main,
)

# The commands register themselves on `main`.
from keras_saliency.cli import deploy, evaluate, explain, train  # noqa: E402,F401
