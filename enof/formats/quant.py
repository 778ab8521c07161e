"""quant.npz (docs/design.md §5): the target's integers for every chip weight node and LIF.

`quant_npz_bytes(arrays)` writes the archive the exporter puts in a bundle. `open_quant(path, ranges)`
reads the archive's directory and every entry's .npy header (dtype and shape) but no data; an entry's
data is read only when the program builder asks for it with the shape chip.nir gives it, so a damaged
or hostile header never allocates. Every value is checked:
integers against `FixedPointRanges` (the exporter's limits, enof.exporter.quantize, from the target
profile's [fixed_point] fields), floats for finiteness. After the builder has taken what it needs,
`check_all_used()` refuses entries that belong to no node of chip.nir. Every problem is one
BundleError line naming the file, the entry and what is allowed, e.g.

    quant.npz: b.0.conv.weight_int holds 10000, outside the loihi profile's 8-bit weight range [-254, 254]
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from enof.errors import BundleError
from enof.formats.fixed_point import ACT_SHIFT
from enof.hardware_profiles import Profile


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    name: str  # "the loihi profile's 8-bit weight range"

    def describe(self) -> str:
        return f"{self.name} [{self.low}, {self.high}]"


@dataclass(frozen=True)
class FixedPointRanges:
    """The integers a bundle for `profile` may hold: what enof.exporter.quantize produces and checks."""

    profile: str
    weight: IntRange  # ±(2^weight_bits − 2): the exporter keeps weights there (Lava MIXED truncation, 8-bit Conv)
    weight_exp: IntRange
    vth: IntRange  # threshold mantissa: ≥ 1 (a threshold of 0 fires on any input), < 2^vth_mant_bits
    decay: IntRange  # du, dv: 12-bit fractions of 4096
    bias_mant: IntRange  # signed bias_mant_bits: ±(2^(bits−1) − 1)
    bias_exp: IntRange  # 0..bias_exp_max (the exporter never shifts right)

    @classmethod
    def from_profile(cls, profile: Profile) -> "FixedPointRanges":
        fp, name = profile.fixed_point, profile.name
        weight_bits, vth_bits = int(fp.weight_bits.value), int(fp.vth_mant_bits.value)
        decay_bits, bias_bits = int(fp.decay_bits.value), int(fp.bias_mant_bits.value)
        weight_max, bias_max = weight_register_max(weight_bits), bias_mant_max(bias_bits)
        return cls(
            profile=name,
            weight=IntRange(-weight_max, weight_max, f"the {name} profile's {weight_bits}-bit weight range"),
            weight_exp=IntRange(int(fp.weight_exp_min.value), int(fp.weight_exp_max.value),
                                f"the {name} profile's weight exponent range"),
            vth=IntRange(1, 2**vth_bits - 1, f"the {name} profile's {vth_bits}-bit threshold mantissa range"),
            decay=IntRange(0, 2**decay_bits - 1, f"the {name} profile's {decay_bits}-bit decay range"),
            bias_mant=IntRange(-bias_max, bias_max, f"the {name} profile's {bias_bits}-bit signed bias mantissa range"),
            bias_exp=IntRange(0, int(fp.bias_exp_max.value), f"the {name} profile's bias exponent range"),
        )  # fmt: skip


def weight_grid_step(register_bits: int, weight_bits: int | None = None) -> int:
    """Grid of a MIXED-sign weight of ``weight_bits`` (default: the register's) in a ``register_bits``
    register: Lava truncates ``(W >> nt) << nt``, nt = 8 − num_weight_bits + 1 (shared/reference/lava.md,
    Dense): 2 at 8 bits, 2^(9 − bits) below."""
    return 2 ** (register_bits + 1 - (register_bits if weight_bits is None else weight_bits))


def weight_register_max(register_bits: int, weight_bits: int | None = None) -> int:
    """Largest |weight| on that grid the register holds: 254 at 8 bits (the exporter keeps weights there)."""
    return 2**register_bits - weight_grid_step(register_bits, weight_bits)


def bias_mant_max(bits: int) -> int:
    """Largest |bias mantissa| of a signed ``bits``-bit field: 2^(bits − 1) − 1."""
    return 2 ** (bits - 1) - 1


def chip_input_bits(profile: Profile, input_mode: str) -> int:
    """Width of the chip's input integers under ``profile`` (:func:`input_bits`)."""
    return input_bits(input_mode, int(profile.target.graded_spike_bits.value), int(profile.fixed_point.state_bits.value))


def input_bits(input_mode: str, graded_spike_bits: int, state_bits: int) -> int:
    """Width of the chip's input integers: the signed graded payload; 1 for binary spikes (0 or 1); or a
    signed current that still fits the state bits after Lava aligns the synaptic input to them
    (a_in << ACT_SHIFT, design.md §6)."""
    if input_mode == "spikes":
        return 1
    return graded_spike_bits if input_mode == "graded" else state_bits - ACT_SHIFT


def input_range(input_mode: str, bits: int) -> tuple[int, int]:
    """(lowest, highest) input integer: 0..1 for binary spikes, else a signed ``bits``-bit integer."""
    if input_mode == "spikes":
        return 0, 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def check_input_scale(label: str, input_scale: float, input_abs_max: float | None, input_mode: str, bits: int) -> None:
    """Refuse an ``input.scale`` that carries the inputs the bundle was sized for (|x| ≤ ``input_abs_max``, the
    manifest's interfaces.chip_input.input_abs_max) beyond the chip's input integers (:func:`input_range`: the
    signed graded payload, the 18-bit input current, or one spike): the exporter never writes one (it refuses
    ``input_abs_max · input.scale`` above that at export), and the chip would clip every input to the range's end."""
    if not input_abs_max:  # a bundle exported before the range was recorded, or an all-zero input
        return
    top = input_range(input_mode, bits)[1]
    largest = top / input_abs_max
    if input_scale > largest * (1 + 1e-9):  # 127 / x · x may round one ulp above 127
        raise BundleError(
            f"{label}: input.scale is {input_scale:.6g}, but the inputs the bundle was sized for reach |x| = "
            f"{input_abs_max:.6g} (manifest interfaces.chip_input.input_abs_max) and the chip's {input_mode} input "
            f"holds integers up to {top} ({bits} bits): the largest input.scale that fits is {largest:.6g}"
        )


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    data_offset: int  # bytes of the .npy header before the data


class QuantFile:
    """An open quant.npz whose entries are read on request, each checked; use as a context manager."""

    def __init__(self, path: str | Path, ranges: FixedPointRanges | None = None):
        self.path, self.label, self.ranges = Path(path), str(path), ranges
        self._used: set[str] = set()
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise BundleError(f"{self.label}: missing") from None
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise self._damaged(exc) from None
        try:
            self.entries = self._read_headers()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> "QuantFile":
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def _damaged(self, exc: BaseException) -> BundleError:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return BundleError(f"{self.label}: cannot read quant.npz ({reason}); the file is truncated or damaged")

    def _read_headers(self) -> dict[str, _Entry]:
        entries: dict[str, _Entry] = {}
        for info in self._zip.infolist():
            key = info.filename.removesuffix(".npy")
            if key in entries:
                raise BundleError(f"{self.label}: entry {key!r} appears twice")
            try:
                with self._zip.open(info) as stream:
                    version = np.lib.format.read_magic(stream)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, fortran, dtype = read_header(stream)
                    header_bytes = stream.tell()
            except BundleError:
                raise
            except Exception as exc:  # zipfile, zlib and numpy's header parser raise many types on damage
                raise self._damaged(exc) from None
            if dtype.hasobject or dtype.kind not in "biuf":
                raise BundleError(f"{self.label}: {key} has dtype {dtype}, expected integers or floats")
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if header_bytes + size != info.file_size:
                raise BundleError(
                    f"{self.label}: {key} declares shape {tuple(shape)} ({size} bytes) but the entry holds "
                    f"{info.file_size - header_bytes} bytes of data; the file is truncated or damaged"
                )
            entries[key] = _Entry(info, dtype, tuple(int(d) for d in shape), bool(fortran), header_bytes)
        return entries

    def _array(self, key: str, owner: str, shape: tuple[int, ...], kinds: str, kind_name: str) -> np.ndarray:
        entry = self.entries.get(key)
        if entry is None:
            raise BundleError(f"{self.label}: missing {key!r} for {owner}")
        self._used.add(key)
        if entry.dtype.kind not in kinds:
            raise BundleError(f"{self.label}: {key} has dtype {entry.dtype}, expected {kind_name}")
        if entry.shape != tuple(shape):
            raise BundleError(f"{self.label}: {key} has shape {entry.shape}, but chip.nir's {owner} needs {tuple(shape)}")
        try:
            with self._zip.open(entry.info) as stream:
                stream.read(entry.data_offset)
                data = stream.read()  # to the end: zipfile checks the CRC there
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise self._damaged(exc) from None
        flat = np.frombuffer(data, dtype=entry.dtype)
        return flat.reshape(shape[::-1]).T if entry.fortran else flat.reshape(shape)

    def integers(self, key: str, owner: str, shape: tuple[int, ...], allowed: IntRange | None) -> np.ndarray:
        """Entry `key` as int64 of exactly `shape`, every value inside `allowed` (when ranges were given)."""
        values = self._array(key, owner, shape, "iu", "integers")
        if allowed is not None and values.size:
            low, high = values.min(), values.max()
            if low < allowed.low or high > allowed.high:
                bad = high if high > allowed.high else low
                raise BundleError(f"{self.label}: {key} holds {int(bad)}, outside {allowed.describe()}")
        return values.astype(np.int64)

    def integer(self, key: str, owner: str, allowed: IntRange | None) -> int:
        return int(self.integers(key, owner, (), allowed))

    def floats(self, key: str, owner: str, shape: tuple[int, ...], positive: bool = False, dtype=np.float64) -> np.ndarray:
        """Entry `key` as `dtype` of exactly `shape`; every value finite in `dtype` (and > 0 if `positive`)."""
        with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf, refused below
            values = self._array(key, owner, shape, "f", "floats").astype(dtype)
        bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
        if bad.any():
            need = "a finite number > 0" if positive else "finite values"
            raise BundleError(f"{self.label}: {key} holds {values[bad].flat[0]!r}, expected {need}")
        return values

    def number(self, key: str, owner: str, positive: bool = False) -> float:
        return float(self.floats(key, owner, (), positive))

    def check_all_used(self) -> None:
        """Refuse entries nothing asked for: they belong to no node of chip.nir (a mismatched pair of files)."""
        extra = sorted(set(self.entries) - self._used)
        if extra:
            more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
            # bias_float was quant.npz's until chip.nir carried the float biases (docs/design.md §5)
            hint = "; the bundle predates chip.nir's biases: re-export it" if extra[0].endswith(".bias_float") else ""
            raise BundleError(f"{self.label}: entry {extra[0]!r}{more} matches no node of chip.nir{hint}")


def open_quant(path: str | Path, ranges: FixedPointRanges | None = None) -> QuantFile:
    return QuantFile(path, ranges)


def quant_npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of quant.npz holding `arrays` (entry name -> array), as `open_quant` reads them back."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
