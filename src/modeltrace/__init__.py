"""modeltrace: AI model IP forensics and training provenance."""

from modeltrace.errors import (
    ModelFileError,
    ModeltraceError,
    RoleError,
    UnsafePickleError,
    UnsupportedFormatError,
    ZooError,
)
from modeltrace.weights import Model, TensorInfo, open_model

__version__ = "0.1.0"

__all__ = [
    "Model",
    "ModelFileError",
    "ModeltraceError",
    "RoleError",
    "TensorInfo",
    "UnsafePickleError",
    "UnsupportedFormatError",
    "ZooError",
    "__version__",
    "open_model",
]
