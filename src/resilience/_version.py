"""The installed version, as the package metadata of the ``resilience-engine`` distribution says."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "resilience-engine"
"""The name the package is installed under; the import name is ``resilience``."""

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
