"""Export a trained forecaster's network, for serving without forecast or Python: torch.export and ONNX.

What is exported is ``Forecaster.forward``: normalization, embedding, encoder and head, from
``(past, future, static)`` to the loss parameters ``(B, H, C_out, P)`` in the window's scaled units
(apply the data's target scaling, ``Batch.to_original``, to the point forecast). The batch size stays
free. The SRU's fused CPU and Triton recurrences are not exportable; while exporting, it records its
reference recurrence (the same maths in plain tensor ops) instead.
"""

import warnings
from pathlib import Path

import torch

from .model import Forecaster
from .nn.sru import SRULayer

__all__ = ["example_inputs", "to_program", "to_onnx"]

INPUT_NAMES = ["past", "future", "static"]


def example_inputs(model: Forecaster, batch_size: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ``(past, future, static)`` of the model's sizes: (B, L, C_in), (B, H, C_fut), (B, S)."""
    dims, device = model.hparams, model.device
    return (
        torch.randn(batch_size, dims["lookback"], dims["input_size"], device=device),
        torch.randn(batch_size, dims["horizon"], dims["future_size"], device=device),
        torch.randn(batch_size, dims["static_size"], device=device),
    )


def _say_what_is_exported(model: Forecaster) -> None:
    if any(isinstance(module, SRULayer) for module in model.modules()):
        warnings.warn(
            "the SRU's fused CPU and Triton recurrences cannot be exported; exporting its reference recurrence "
            "(the same maths in plain tensor ops, slower step by step)",
            stacklevel=3,
        )


def _dynamic_batch() -> tuple[dict, dict, dict]:
    batch = torch.export.Dim("batch")
    return ({0: batch}, {0: batch}, {0: batch})


def to_program(model: Forecaster, path: str | Path | None = None) -> torch.export.ExportedProgram:
    """The network as a ``torch.export`` program (saved to ``path``, a ``.pt2`` file, when given).

    Example:
        >>> model = Forecaster(lookback=8, horizon=2, input_size=1, target_size=1)
        >>> program = to_program(model)
        >>> program.module()(*example_inputs(model, batch_size=5)).shape
        torch.Size([5, 2, 1, 1])
    """
    _say_what_is_exported(model)
    program = torch.export.export(model.eval(), example_inputs(model), dynamic_shapes=_dynamic_batch())
    if path is not None:
        torch.export.save(program, path)
    return program


def to_onnx(model: Forecaster, path: str | Path) -> Path:
    """The network as an ONNX file with inputs ``past``, ``future``, ``static`` and output ``params``.

    Raises:
        ImportError: the ONNX exporter's packages are missing (``pip install onnx onnxscript``).
    """
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as error:
        raise ImportError("exporting to ONNX needs `pip install onnx onnxscript`") from error
    _say_what_is_exported(model)
    torch.onnx.export(
        model.eval(),
        example_inputs(model),
        str(path),
        input_names=INPUT_NAMES,
        output_names=["params"],
        dynamic_shapes=_dynamic_batch(),
        dynamo=True,
    )
    return Path(path)
