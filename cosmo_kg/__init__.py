"""cosmo-kg: an open e-commerce commonsense knowledge graph (a reimplementation of COSMO)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cosmo-kg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
