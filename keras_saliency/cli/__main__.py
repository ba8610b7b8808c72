"""`python -m keras_saliency.cli`: the `keras-saliency` command."""

from keras_saliency.cli import main

main()
