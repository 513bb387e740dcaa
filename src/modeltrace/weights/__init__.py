"""Reading checkpoints: formats, canonical roles, configs, vocabularies, digests and norm folding."""

from modeltrace.weights.config import ModelConfig
from modeltrace.weights.model import Model, open_model
from modeltrace.weights.roles import NormInfo, RoleBinding
from modeltrace.weights.source import TensorInfo, TensorSource

__all__ = ["Model", "ModelConfig", "NormInfo", "RoleBinding", "TensorInfo", "TensorSource", "open_model"]
