"""Sample photos shipped with the package (public domain / CC0; see README.md here)."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def paths():
    """Paths of the sample photos, sorted.

    Example:

    >>> [os.path.basename(p) for p in paths()][:2]
    ['astronaut.jpg', 'cat.jpg']
    """
    return sorted(os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(".jpg"))
