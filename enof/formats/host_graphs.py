"""host_in.onnx and host_out.onnx (docs/design.md §5): their declared interfaces against the chip.

ONNX Runtime refuses a feed whose shape differs from a static dimension with a multi-line
INVALID_ARGUMENT error, mid-run; these checks refuse such a bundle at load, in one BundleError line
naming the file, the tensor, the dimension and what the chip or the manifest says. A dimension
may be symbolic (any size) except the batch, which must be: the runtime feeds batches of any size.

host_out.onnx: one float input per chip output LIF, named by it, (T, batch, *LIF shape), T the
manifest's `timesteps`; output `logits` (batch, num_classes). host_in.onnx: input `x`
(batch, *dataset.input_shape) → output `current` (batch, *chip.nir input shape).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from enof.errors import BundleError

Dims = tuple  # per dimension an int (static) or None (symbolic or unknown)


def _interface(path: Path, data: bytes | None) -> tuple[dict[str, tuple[int, Dims]], dict[str, tuple[int, Dims]]]:
    """(inputs, outputs) of the graph ``data`` (the file's bytes; None: read ``path``): per tensor name its element
    type and dims, initializers left out."""
    try:
        model = onnx.load_from_string(data) if data is not None else onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends on a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{path}: cannot read ONNX ({reason}); the file is truncated or damaged") from None
    constants = {init.name for init in model.graph.initializer}

    def describe(values):
        out = {}
        for value in values:
            if value.name in constants:
                continue
            tensor = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
            out[value.name] = (tensor.elem_type, dims if tensor.HasField("shape") else None)
        return out

    return describe(model.graph.input), describe(model.graph.output)


def _check_tensor(path: Path, role: str, name: str, found: tuple[int, Dims] | None, want: tuple, batch_axis: int) -> None:
    """`want`: per dimension the required size, or None where any size is fine ("batch" at `batch_axis`)."""
    if found is None:
        raise BundleError(f"{path}: has no {role} {name!r}")
    elem_type, dims = found
    if elem_type != onnx.TensorProto.FLOAT:
        raise BundleError(f"{path}: {role} {name!r} is {onnx.TensorProto.DataType.Name(elem_type)}, expected FLOAT")
    shown = "(" + ", ".join("batch" if i == batch_axis else str(w) for i, w in enumerate(want)) + ")"
    if dims is None:
        return  # no declared shape: ONNX Runtime checks nothing, the runtime checks what comes out
    if len(dims) != len(want):
        raise BundleError(f"{path}: {role} {name!r} has {len(dims)} dimensions {_show(dims)}, expected {shown}")
    if dims[batch_axis] is not None:
        raise BundleError(
            f"{path}: {role} {name!r} fixes its batch dimension {batch_axis} to {dims[batch_axis]}; it must be symbolic"
        )
    for axis, (have, need) in enumerate(zip(dims, want)):
        if have is not None and need is not None and have != need:
            raise BundleError(f"{path}: {role} {name!r} has shape {_show(dims)}, expected {shown} (dimension {axis})")


def _show(dims: Dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def check_host_out(path: str | Path, chip_outputs: dict[str, tuple[int, ...]], timesteps: int, num_classes: int,
                   data: bytes | None = None) -> None:
    """host_out.onnx takes exactly the chip's outputs, (T, batch, *shape) each, and gives logits (batch, K)."""
    path = Path(path)
    inputs, outputs = _interface(path, data)
    for name in inputs:
        if name not in chip_outputs:
            raise BundleError(f"{path}: input {name!r} is not a chip output (chip.nir outputs: {', '.join(chip_outputs)})")
    for name, shape in chip_outputs.items():
        if name not in inputs:
            raise BundleError(f"{path}: chip output {name!r} is not one of its inputs ({', '.join(inputs) or 'none'})")
        _check_tensor(path, "input", name, inputs[name], (timesteps, None, *shape), batch_axis=1)
    _check_tensor(path, "output", "logits", outputs.get("logits"), (None, num_classes), batch_axis=0)


def check_host_in(path: str | Path, image_shape: tuple[int, ...], current_shape: tuple[int, ...],
                  data: bytes | None = None) -> None:
    """host_in.onnx maps x (batch, *image) to current (batch, *the chip's input shape)."""
    path = Path(path)
    inputs, outputs = _interface(path, data)
    extra = [name for name in inputs if name != "x"]
    if extra:
        raise BundleError(f"{path}: input {extra[0]!r} is not 'x' (host_in.onnx takes the image only)")
    _check_tensor(path, "input", "x", inputs.get("x"), (None, *image_shape), batch_axis=0)
    _check_tensor(path, "output", "current", outputs.get("current"), (None, *current_shape), batch_axis=0)
