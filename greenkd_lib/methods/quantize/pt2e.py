"""int8 models by torchao's PT2E quantization with the x86 Inductor quantizer, lowered by torch.compile.

The maintained path (``torch.ao.quantization``'s eager and FX modes are deprecated): the float
model is exported (``torch.export``), observed (``prepare_pt2e``) or fake-quantized for training
(``prepare_qat_pt2e``), converted (``convert_pt2e``: int8 weights per channel, int8 activations),
and ``torch.compile`` with Inductor's freezing turns the quantize/dequantize pattern into oneDNN's
int8 kernels. :func:`int8_backend` says whether this machine can run them, and why not.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from typing import Iterable

import torch
from torch import nn

__all__ = ["UnsupportedLayersError", "export", "quantizer", "prepare_ptq", "prepare_qat", "convert",
           "float_layers", "int8_backend", "lower", "BATCH_DIM_MAX"]

BATCH_DIM_MAX = 4096  # the exported graphs take any batch from 1 to this


class UnsupportedLayersError(ValueError):
    """A model with convolutions or linear layers the quantizer left in float."""


def _example(image_size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, image_size, image_size)


def export(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """``model`` (in its current train/eval mode) exported with a dynamic batch dimension, as a module."""
    batch = torch.export.Dim("batch", min=1, max=BATCH_DIM_MAX)
    try:
        program = torch.export.export(model, (_example(image_size),), dynamic_shapes=({0: batch},))
    except Exception as exc:  # noqa: BLE001 - say which model could not be captured, keep the cause
        raise ValueError(f"torch.export could not capture {type(model).__name__} for quantization: {exc}") from exc
    return program.module()


@contextlib.contextmanager
def _quiet():
    """Silence what Inductor and torchao print on every compilation that says nothing about the result
    (a copy-construct UserWarning in the int8 lowering, the CUDA probe of a CPU-only machine)."""
    loggers = [logging.getLogger(name) for name in ("torch.utils.cpp_extension", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


with _quiet():  # torchao registers an Enum with torch's pytree at import, which logs a deprecation
    import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401,E402
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq  # noqa: E402


@functools.cache
def _config(is_qat: bool):
    return xiq.get_default_x86_inductor_quantization_config(is_qat=is_qat)


def quantizer(is_qat: bool = False):
    """The x86 Inductor quantizer: int8 weights per channel (symmetric), int8 activations per tensor."""
    return xiq.X86InductorQuantizer().set_global(_config(is_qat))


def _annotated(prepare, graph: torch.fx.GraphModule, the_quantizer, model: nn.Module) -> torch.fx.GraphModule:
    try:
        return prepare(graph, the_quantizer)
    except ValueError as exc:  # the quantizer's annotation refused a pattern of this model
        raise UnsupportedLayersError(
            f"the x86 quantizer cannot annotate {type(model).__name__} ({exc}); it quantizes convolutions, "
            "linear layers and their fused ReLU/add patterns: a residual block whose output feeds several "
            "nodes (ResNet, WRN) is refused by torchao's X86InductorQuantizer") from exc


def prepare_ptq(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """The float model (eval mode) with observers on every quantized tensor: run calibration batches through it."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    return _annotated(prepare_pt2e, export(model.eval(), image_size), quantizer(), model)


def prepare_qat(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """The float model with fake quantization for training, its BatchNorm folded into the convolutions first.

    Folding first freezes BatchNorm's statistics for the whole fine-tuning, as QAT recipes do after
    its first epochs; PT2E's own conv-BN QAT pattern took 19 s to convert a MobileNetV2 here
    (4.6 s with the BN folded), for a few epochs from a converged model.
    """
    from torch.fx.experimental.optimization import fuse
    from torchao.quantization.pt2e import move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    folded = fuse(model.eval())  # conv + BN -> conv with the BN's running statistics folded in
    prepared = _annotated(prepare_qat_pt2e, export(folded.train(), image_size), quantizer(is_qat=True), model)
    move_exported_model_to_train(prepared)
    return prepared


def convert(prepared: torch.fx.GraphModule, allow_float_layers: bool = False) -> torch.fx.GraphModule:
    """The int8 model of an observed or QAT-trained ``prepared`` one, without the float weights it no longer uses.

    A convolution or linear layer the quantizer left in float raises :class:`UnsupportedLayersError`
    naming it, unless ``allow_float_layers``.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    move_exported_model_to_eval(prepared)
    converted = convert_pt2e(prepared)
    _drop_unused_attributes(converted)
    left = float_layers(converted)
    if left and not allow_float_layers:
        raise UnsupportedLayersError(
            f"the x86 quantizer left {len(left)} layer(s) in float: {', '.join(left)}; their int8 model "
            "would be only partly quantized (pass allow_float_layers=True to accept that)")
    return converted


def _drop_unused_attributes(gm: torch.fx.GraphModule) -> None:
    # convert_pt2e leaves the float weights attached next to their int8 copies: 4x the size on disk.
    used = {node.target for node in gm.graph.nodes if node.op == "get_attr"}
    for name, _ in [*gm.named_parameters(), *gm.named_buffers()]:
        if name in used:
            continue
        owner_name, _, leaf = name.rpartition(".")
        owner = gm.get_submodule(owner_name) if owner_name else gm
        owner._parameters.pop(leaf, None)
        owner._buffers.pop(leaf, None)
    gm.delete_all_unused_submodules()
    gm.recompile()


_WEIGHTED = ("conv2d", "linear", "conv1d", "conv3d")


def float_layers(converted: torch.fx.GraphModule) -> list[str]:
    """The convolutions and linear layers of a converted model whose weight is not dequantized int8,
    by their module path in the original model."""
    left = []
    for node in converted.graph.nodes:
        if node.op != "call_function" or not any(f"aten.{op}" in str(node.target) for op in _WEIGHTED):
            continue
        weight = node.args[1] if len(node.args) > 1 else None
        if not (isinstance(weight, torch.fx.Node) and "dequantize" in str(weight.target)):
            stack = node.meta.get("nn_module_stack") or {}
            left.append(next(reversed(stack.values()))[0] if stack else node.name)
    return left


@functools.cache
def int8_backend() -> tuple[bool, str]:
    """(available, reason): whether torch.compile lowers a quantized convolution to int8 kernels here."""
    if not torch.backends.mkldnn.is_available():
        return False, "this PyTorch build has no oneDNN (mkldnn), which runs Inductor's int8 CPU kernels"
    try:
        probe = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(8, 2))
        prepared = prepare_ptq(probe, 8)
        prepared(_example(8, 4))
        lowered = lower(convert(prepared), _example(8, 4))
        lowered(_example(8, 4))
    except Exception as exc:  # noqa: BLE001 - any failure means: measure without int8 kernels, say why
        return False, f"torch.compile could not lower an int8 model on this machine ({type(exc).__name__}: {exc})"
    return True, "int8 kernels through torch.compile (Inductor, oneDNN)"


_LOWERED: dict[tuple, nn.Module] = {}


def lower(model: nn.Module, example: torch.Tensor, key: str | None = None) -> nn.Module:
    """``model`` compiled by Inductor with freezing (weights folded and pre-packed; int8 kernels for a
    converted model), compiled for the shape of ``example`` by one call under no_grad.

    ``key`` (a run's hash) keeps the compiled model for later calls with the same key and shape:
    compiling takes seconds, and accuracy and latency need the same shapes.
    """
    import torch._inductor.config as inductor_config

    cache_key = (key, tuple(example.shape)) if key is not None else None
    if cache_key in _LOWERED:
        return _LOWERED[cache_key]
    compiled = torch.compile(model, dynamic=False)
    with inductor_config.patch(freezing=True), torch.no_grad(), _quiet():
        compiled(example)
    if cache_key is not None:
        _LOWERED[cache_key] = compiled
    return compiled


def calibrate(prepared: torch.fx.GraphModule, batches: Iterable[torch.Tensor]) -> int:
    """Run ``batches`` through an observed model; the number of images seen."""
    seen = 0
    with torch.no_grad():
        for x in batches:
            prepared(x)
            seen += len(x)
    return seen
