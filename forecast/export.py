"""Export a trained forecaster's network, ``Forecaster.forward``, with torch.export or ONNX.

What is exported is the network only: normalization, embedding, encoder and head, from window tensors
already scaled by the data's scalers, ``(past, future, static)``, to the loss parameters
``(B, H, C_out, P)`` on the targets' scaled units. The batch size stays free. Neither export needs
forecast to run (the ``.pt2`` program needs torch; the ONNX file runs in onnxruntime, without Python),
but a server must still do what ``Forecaster.predict`` does around it, with the checkpoint's data
state (``Forecaster.load(path).data_state``, plain lists):

1. Repair the missing values of the history as the checkpoint's ``nan_policy`` says
   (``Forecaster.load(path).data_config["nan_policy"]``, as ``forecast.data.validate.repair_missing``
   does): ``error`` refuses a NaN or infinite value; ``ffill``, ``interpolate`` or ``zero`` fill it
   from the series' own values of that column. A NaN left in a window spoils that window's forecast.
2. Scale the history of each series with the checkpoint's scalers: ``scaled = (value - offset) / scale``,
   with ``data_state["scaling"]["targets"]`` for the columns ``data_state["targets"]``, and
   ``["covariates"]`` for ``data_state["past_covariates"]`` then ``["future_covariates"]``, channel by
   channel in that order. ``scale`` and ``offset`` have one row for all series or, with
   ``data_state["scale_per_series"]``, one row per series of ``data_state["series"]``, which names each
   series by its id as text (``str(id)``: the id ``7`` is ``"7"``); ``predict`` fits a series the
   checkpoint does not know on its own history.
3. Lay out the windows: ``past`` (B, L, C_in) is the last ``lookback`` rows of
   ``[targets | past covariates]``; ``future`` (B, H, C_fut) the ``horizon`` rows after them of
   ``[future covariates | calendar features]`` (features computed from the times and ``data_state["freq"]``, in the
   time zone ``data_state["time_zone"]`` (``None``: times without one; absent in older checkpoints), as
   ``forecast.data.calendar.calendar_features`` does); ``static`` (B, S) per series the columns
   ``data_state["static_covariates"]`` in order, a text category as its index in
   ``data_state["vocabularies"][column]``, a number scaled with ``data_state["scaling"]["statics"]``.
   All float32.
4. Run the program, then take the loss's point forecast from the parameters (``model.loss.point``:
   ``params[..., 0]`` for the point and location-scale losses, the anchor level for ``QuantileLoss``)
   and, for a probabilistic loss, the quantiles of ``predict``'s ``{target}_q{level}`` columns
   (``model.loss.quantiles(params, model.loss.levels)``: for ``QuantileLoss``, ``params`` itself).
   The P parameters, on the targets' scaled units: ``GaussianNLLLoss`` (mean, standard deviation), whose
   quantile at level ``tau`` is ``mean + std * scipy.special.ndtri(tau)``; ``StudentTNLLoss`` (loc, scale,
   and the degrees of freedom where it learns them, else its ``df``), ``loc + scale *
   scipy.special.stdtrit(df, tau)``; ``QuantileLoss`` the quantiles at its ``levels``, in increasing order.
5. Invert the target scaling: ``forecast * scale + offset`` per target channel, the quantiles alike, in
   float64 (``Batch.to_original``: float32 keeps no units' digit at a level of 1e9). A standard deviation
   or scale parameter in original units is ``value * abs(scale)``, without the offset; degrees of freedom stay.
6. Build the times: ``horizon`` steps of the data's frequency (``data_state["freq"]``) after each
   series' last observed time.

``forecast.predict.history_module`` does steps 1 to 3 from a table in Python, and
``forecast.predict.forecast_table`` step 6. The SRU's CPU and Triton recurrences (custom autograd
functions) are not exportable; while exporting, the SRU records the same maths in plain tensor ops instead
(``forecast.kernels.sru_tensor_ops.sru_recurrence_unrolled``), a loop over the time steps that the exporter
unrolls: the program, and the time an export takes, grow with the lookback. A checkpoint that fell back to a
naive forecast (``Forecaster.naive_fallback``) exports that forecast, as its ``forward`` computes it.
"""

import warnings
from pathlib import Path

import torch

from .checkpointing import output_file
from .errors import check_count, user_stacklevel
from .inference import evaluating
from .model import Forecaster
from .nn.sru import SRULayer

__all__ = ["example_inputs", "to_program", "to_onnx"]

INPUT_NAMES = ["past", "future", "static"]
GATED = (torch.nn.GRU, torch.nn.LSTM)  # onnxruntime's kernels of these run float32 only
EXPORTERS = {".pt2": "to_program", ".onnx": "to_onnx"}  # each format's suffix, in lower case, and its exporter


def example_inputs(model: Forecaster, batch_size: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ``(past, future, static)`` of the model's sizes: (B, L, C_in), (B, H, C_fut), (B, S).

    In float32, as the data module gives windows, whatever the model's dtype and torch's default dtype: a program
    traced from float64 windows (``torch.set_default_dtype(torch.float64)``) refuses a server's float32 ones. A
    categorical static feature gets a random index among its categories, as the data module gives it (any other
    number would be no row of its embedding).

    Raises:
        ValueError: ``batch_size`` is no int of 1 or more (a negative one failed as torch's "negative dimension").
    """
    check_count("batch_size", batch_size, "windows per example batch")
    dims, options = model.hparams, {"device": model.device, "dtype": torch.float32}
    static = torch.randn(batch_size, dims["static_size"], **options)
    for column, categories in enumerate(dims.get("static_cardinalities") or []):
        if categories:
            static[:, column] = torch.randint(categories, (batch_size,), device=model.device).float()
    return (
        torch.randn(batch_size, dims["lookback"], dims["input_size"], **options),
        torch.randn(batch_size, dims["horizon"], dims["future_size"], **options),
        static,
    )


def _refuse_what_is_no_forecaster(model: object) -> None:
    """Refuse what is no Forecaster: a checkpoint's path, or ``torch.compile``'s wrapper of a Forecaster. A module is
    named by its class alone (its repr lists every layer).

    Raises:
        TypeError: naming what was given and the fix.
    """
    if isinstance(model, Forecaster):
        return
    if isinstance(getattr(model, "_orig_mod", None), Forecaster):
        fix = "export the Forecaster that torch.compile wrapped (model.compile() compiles it in place and exports)"
    else:
        fix = "for a checkpoint file, load it first: Forecaster.load(path)"
    given = type(model).__name__ if isinstance(model, torch.nn.Module) else f"{type(model).__name__} {model!r}"
    raise TypeError(f"export takes a Forecaster, got {given}; {fix}")


def _say_what_is_exported(model: Forecaster) -> None:
    """Refuse what is no Forecaster (a checkpoint's path, say); warn where the program is not the network's."""
    _refuse_what_is_no_forecaster(model)
    if model.naive_fallback is not None:
        warnings.warn(
            f"this checkpoint fell short of a naive forecast on validation (lost to it, or led it by less than "
            f"naive_comparison.margin) and falls back to it: the program "
            f"repeats the value {model.naive_fallback} step(s) before each forecast step, not the network",
            stacklevel=user_stacklevel(),
        )
    if any(isinstance(module, SRULayer) for module in model.modules()):
        warnings.warn(
            "the SRU's CPU and Triton recurrences cannot be exported; exporting its reference recurrence's maths "
            "in plain tensor ops instead (a loop over the time steps, slower than the compiled kernels)",
            stacklevel=user_stacklevel(),
        )


def _check_onnxruntime_runs(model: Forecaster) -> None:
    """Refuse a model whose ONNX file onnxruntime cannot run: its kernels are of float32 and, but for the GRU and
    LSTM ("GRU operator does not support double yet" on every run), float64; of half precision it lacks many, and
    an ONNX GRU or LSTM of bfloat16 is no valid ONNX at all.

    Raises:
        ValueError: naming the dtype, the layer where it is the GRU or LSTM, and the fix.
    """
    if model.dtype == torch.float32:
        return
    fix = (
        "export a float32 copy, to_onnx(copy.deepcopy(model).float(), path), or export it in its dtype with to_program"
    )
    if model.dtype != torch.float64:
        raise ValueError(f"to_onnx exports float32 or float64 models; this one is in {model.dtype}: {fix}")
    layer = next(
        (f"{name} ({type(module).__name__})" for name, module in model.named_modules() if isinstance(module, GATED)),
        None,
    )
    if layer is not None:
        raise ValueError(
            f"onnxruntime runs the GRU and LSTM in float32 only, and this model is in float64 with the layer {layer}: "
            f"{fix}"
        )


def _export_file(path: str | Path, suffix: str) -> Path:
    """The file ``path`` to write an export of format ``suffix`` (``.pt2`` or ``.onnx``) to, its folder made once the
    path is taken. Suffixes are matched in any case (``model.ONNX`` is an ONNX file); one of neither format is taken
    as given.

    Raises:
        TypeError, ValueError: ``output_file``'s: no path, or a folder.
        ValueError: ``path`` ends in the other format's suffix (a ``.onnx`` file holding a torch.export program
            loads in neither), naming the path, the suffix this export writes and the exporter of the other.
    """
    given = Path(path).suffix.lower() if isinstance(path, (str, Path)) else suffix
    if given in EXPORTERS and given != suffix:
        raise ValueError(
            f"the export path {str(path)!r} names a {given} file, but this export writes {suffix}: give a {suffix} "
            f"path, or call {EXPORTERS[given]} for {given}"
        )
    return output_file(path, "export", f"model{suffix}")


def _dynamic_batch() -> tuple[dict, dict, dict]:
    batch = torch.export.Dim("batch")
    return ({0: batch}, {0: batch}, {0: batch})


def to_program(model: Forecaster, path: str | Path | None = None) -> torch.export.ExportedProgram:
    """The network as a ``torch.export`` program (saved to ``path``, a ``.pt2`` file, when given; its
    directory is created if missing): ``program.module()(past, future, static) -> params``, shapes and units as
    in ``to_onnx``, of any batch size (float32 windows also for a model cast to another dtype).

    Example:
        >>> model = Forecaster(lookback=8, horizon=2, input_size=1, target_size=1)
        >>> program = to_program(model)
        >>> program.module()(*example_inputs(model, batch_size=5)).shape
        torch.Size([5, 2, 1, 1])

    Raises:
        TypeError: ``model`` is no Forecaster (a checkpoint's path: load it with ``Forecaster.load``;
            ``torch.compile``'s wrapper: export the Forecaster it wraps), or ``path`` is no path.
        ValueError: ``path`` is a folder or an ``.onnx`` file (the suffix in any case: ``model.ONNX`` too).
    """
    _say_what_is_exported(model)
    file = None if path is None else _export_file(path, ".pt2")
    with evaluating(model):
        program = torch.export.export(model, example_inputs(model), dynamic_shapes=_dynamic_batch())
    if file is not None:
        with file.open("wb") as stream:  # torch warns of a path whose name does not end in ".pt2" (".PT2", say)
            torch.export.save(program, stream)
    return program


def to_onnx(model: Forecaster, path: str | Path) -> Path:
    """The network as an ONNX file with inputs ``past`` (B, L, C_in), ``future`` (B, H, C_fut), ``static`` (B, S),
    float32 windows scaled as this module's docstring says, and output ``params`` (B, H, C_out, P), the loss's
    parameters on the targets' scaled units (invert the target scaling for original units); B is free. The file
    holds the weights too, so that it runs alone (an ONNX file holds at most 2 GB).

    Args:
        model: the forecaster to export, left in its caller's mode and on its device.
        path: the ``.onnx`` file to write; its directory is created if missing.

    Returns:
        ``path``, as a ``Path``.

    Raises:
        ImportError: the ONNX exporter's packages are missing (``pip install onnx onnxscript``).
        TypeError: ``model`` is no Forecaster (a checkpoint's path: load it with ``Forecaster.load``;
            ``torch.compile``'s wrapper: export the Forecaster it wraps), or ``path`` is no path.
        ValueError: ``path`` is a folder or a ``.pt2`` file (the suffix in any case: ``model.PT2`` too); or the
            model is in a dtype whose ONNX file onnxruntime cannot run (bfloat16 or float16; float64 with a GRU or
            LSTM): export a float32 copy, ``to_onnx(copy.deepcopy(model).float(), path)``.
    """
    _say_what_is_exported(model)
    _check_onnxruntime_runs(model)
    path = _export_file(path, ".onnx")
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as error:
        raise ImportError("exporting to ONNX needs `pip install onnx onnxscript`") from error
    with evaluating(model):
        torch.onnx.export(
            model,
            example_inputs(model),
            str(path),
            input_names=INPUT_NAMES,
            output_names=["params"],
            dynamic_shapes=_dynamic_batch(),
            dynamo=True,
            external_data=False,  # the weights in the file itself, not in a ".data" file that a server must get too
            verbose=False,  # without it, torch prints each step of its exporter ("[torch.onnx] Obtain model graph")
        )
    return path
