"""The wheel carries a native library, so it is a platform wheel (not py3-none-any).

Everything else about the package is in pyproject.toml.
"""

from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """Tags the wheel for this platform: it ships libbabysea.so."""

    def has_ext_modules(self) -> bool:  # noqa: D102
        return True


setup(distclass=BinaryDistribution)
