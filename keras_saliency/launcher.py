"""The `keras-saliency` entry point: the command line, or (in an environment that lost one of its
dependencies, e.g. the runtime-only installs of `export/requirements-*.txt`) one line that says how
to install what it needs.

Example:

```
$ keras-saliency --version
```
"""

import sys



def main():
    """Runs `keras_saliency.cli.main`, or exits with status 2 and the install line.

    Example:

    ```python
    import sys
    from keras_saliency.launcher import main

    sys.exit(main())
    ```
    """
    missing = [name for name in ("click", "matplotlib") if _missing(name)]
    if missing:
        sys.stderr.write(f"Error: the keras-saliency command needs {', '.join(missing)}: pip install "
                         f"{' '.join(missing)} (or reinstall keras-saliency, which depends on them)\n")
        sys.exit(2)
    from keras_saliency.cli import console, main as cli_main

    try:
        return cli_main()
    except SystemExit as exit:
        if console.FULL_DISK["seen"]:  # the error line is out: no clean-up on the full disk
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit.code if isinstance(exit.code, int) else 1)
        raise


def _missing(name):
    from keras_saliency.options import missing_modules

    return bool(missing_modules([name]))


if __name__ == "__main__":
    main()
