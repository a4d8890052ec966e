"""Quantization of trained models (Table 8): torchao's PT2E path to int8 (:mod:`.pt2e`) and what a
deployed model measures (:mod:`.measure`). Quantized models as derived runs of the store are
``greenkd_lib.engine.quantized``'s."""

from .measure import EVAL_BATCH, accuracy, latency_ms, predictions, program_bytes, size_mb
from .pt2e import UnsupportedLayersError, float_layers, int8_backend, lower

__all__ = ["EVAL_BATCH", "accuracy", "predictions", "latency_ms", "program_bytes", "size_mb",
           "UnsupportedLayersError", "float_layers", "int8_backend", "lower"]
