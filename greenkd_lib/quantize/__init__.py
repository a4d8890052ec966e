"""Quantization of trained models (Table 8): torchao's PT2E path to int8, as derived runs of the store."""

from .derived import (MODEL_FILE, SCHEMES, QuantizeSettings, converted_model, export_float, load_program, quantize, quantized_config,
                      settings_for, split_tensors)
from .measure import EVAL_BATCH, accuracy, latency_ms, predictions, program_bytes, size_mb
from .pt2e import UnsupportedLayersError, float_layers, int8_backend, lower

__all__ = ["MODEL_FILE", "SCHEMES", "QuantizeSettings", "converted_model", "export_float", "load_program", "quantize", "quantized_config", "settings_for",
           "split_tensors", "EVAL_BATCH", "accuracy", "predictions", "latency_ms", "program_bytes", "size_mb",
           "UnsupportedLayersError", "float_layers", "int8_backend", "lower"]
