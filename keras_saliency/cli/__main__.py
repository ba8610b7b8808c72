"""`python -m keras_saliency.cli`: the `keras-saliency` command."""

from keras_saliency.cli import main

if __name__ == "__main__":
    main()
