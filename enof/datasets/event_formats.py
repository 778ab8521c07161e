"""Event-camera file formats, each read as tonic reads it (tonic.io, or the aedat package and numpy that tonic
uses) and written per its own spec: for converters, and for tests that need small files in the real format.

- AEDAT 4 (iniVation DV; tonic's CIFAR10-DVS): ``#!AER-DAT4.0\\r\\n``, a u32 length and an IOHeader flatbuffer
  (compression, data table position, an XML description of the streams), then packets of u32 stream id, u32
  length and a size-prefixed ``EVTS`` EventPacket flatbuffer: a vector of structs {t: int64 µs, x: int16,
  y: int16, on: bool} of 16 bytes (docs.inivation.com "AEDAT 4.0"; the aedat package's events.fbs). Read
  with the ``aedat`` package, as ``tonic.io.read_aedat4`` does.
- N-MNIST ``.bin`` (Orchard et al. 2015): 5 bytes per event, big-endian bit fields x (8), y (8), p (1),
  t (23 bits, µs). Read with ``tonic.io.read_mnist_file``.
- DVS128 Gesture in tonic's layout: ``.npy`` of float rows (x, y, p, t in ms), as tonic's DVSGesture loads it.

Every reader returns ``Events`` in µs; what a recording may hold (sensor, polarity) is checked by the caller.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
AEDAT4_EVENT_BYTES = 16  # struct Event {int64 t; int16 x; int16 y; bool on} padded to its 8-byte alignment
NMNIST_EVENT_BYTES = 5  # x, y, then p (bit 23) and t (bits 22..0) of a big-endian 24-bit field
NMNIST_T_LIMIT = 2**23  # 23 timestamp bits; tonic adds 2^13 at each overflow marker (y = 240), which we never write


@dataclass(frozen=True)
class Events:
    """One recording: equal-length 1-D arrays of time (µs), x, y (pixels) and polarity; int64 once checked
    (events.check_events), a reader's own dtype before."""

    t_us: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray


class EventFileError(ValueError):
    """A file that is not what its format says (truncated, foreign): the message says what was found."""


# ---------------------------------------------------------------- AEDAT 4
def read_aedat4(path: str | Path) -> Events:
    """The first event stream of an AEDAT 4 file, decoded by the ``aedat`` package as ``tonic.io.read_aedat4``
    does (which cannot return a recording without event packets: here that is an empty recording)."""
    with open(path, "rb") as f:
        if f.read(len(AEDAT4_MAGIC)) != AEDAT4_MAGIC:
            raise EventFileError(f"not an AEDAT 4 file (it does not start with {AEDAT4_MAGIC!r})")
    import aedat  # lazy: only AEDAT 4 files (DVS Gesture) need the aedat package

    try:
        decoder = aedat.Decoder(str(path))
        streams = [i for i, stream in decoder.id_to_stream().items() if stream["type"] == "events"]
        if not streams:
            raise EventFileError("an AEDAT 4 file without an event stream")
        packets = [packet["events"] for packet in decoder if packet["stream_id"] == min(streams)]
    except EventFileError:
        raise
    except Exception as exc:  # the Rust decoder raises plain Exceptions (truncated packet, bad flatbuffer)
        raise EventFileError(f"damaged AEDAT 4 file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    events = np.concatenate(packets) if packets else np.zeros(0, [("t", "u8"), ("x", "u2"), ("y", "u2"), ("p", "?")])
    t, x, y, p = (np.asarray(events[n], np.int64) for n in events.dtype.names[:4])
    return Events(t, x, y, p)


def write_aedat4(path: str | Path, events: Events, sensor_hw: tuple[int, int], packet_events: int = 4096) -> None:
    """An uncompressed AEDAT 4 file: one event stream (id 0) of ``sensor_hw`` in packets of ``packet_events``."""
    import flatbuffers  # the flatbuffers runtime (an onnxruntime dependency) builds the IOHeader

    height, width = sensor_hw
    description = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
        f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
        "</node></node></node></dv>"
    )
    builder = flatbuffers.Builder(1024)
    text = builder.CreateString(description)
    builder.StartObject(3)  # table IOHeader {compression: int32 = NONE; dataTablePosition: int64 = -1; infoNode: string}
    builder.PrependUOffsetTRelativeSlot(2, text, 0)
    header = builder.EndObject()
    builder.Finish(header, file_identifier=b"IOHE")
    header_bytes = bytes(builder.Output())
    with open(path, "wb") as f:
        f.write(AEDAT4_MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes)
        for start in range(0, len(events.t_us), packet_events):
            packet = _event_packet(events, slice(start, start + packet_events))
            f.write(struct.pack("<II", 0, len(packet)) + packet)


def _event_packet(events: Events, part: slice) -> bytes:
    """A size-prefixed EventPacket flatbuffer, laid out by hand (offsets from the buffer's first byte):
    0 size · 4 root offset · 8 "EVTS" · 12 vtable (6, 8, 4) + 2 pad · 20 table (soffset 8, field 0 → 28) ·
    28 vector length · 32 the 16-byte structs (8-aligned, as the struct's int64 needs)."""
    count = len(events.t_us[part])
    structs = np.zeros(count, np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")]))
    structs["t"], structs["x"], structs["y"] = events.t_us[part], events.x[part], events.y[part]
    structs["on"] = events.p[part]
    body = struct.pack("<I4sHHH2xiII", 16, b"EVTS", 6, 8, 4, 8, 4, count) + structs.tobytes()
    return struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------- N-MNIST .bin
def read_nmnist_bin(path: str | Path) -> Events:
    """An N-MNIST recording (``tonic.io.read_mnist_file``); a size that is not whole events is refused."""
    size = Path(path).stat().st_size
    if size % NMNIST_EVENT_BYTES:
        raise EventFileError(f"{size} bytes is not a whole number of {NMNIST_EVENT_BYTES}-byte events (truncated?)")
    from tonic.io import read_mnist_file  # lazy: tonic (and scipy) load only for N-MNIST files

    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    events = read_mnist_file(str(path), dtype=dtype)
    return Events(events["t"], events["x"], events["y"], events["p"])


def write_nmnist_bin(path: str | Path, events: Events) -> None:
    """Events as N-MNIST's 40-bit records; x, y < 256, polarity 0/1 and t < 2^23 µs (no overflow markers)."""
    t, x, y, p = (np.asarray(a, np.int64) for a in (events.t_us, events.x, events.y, events.p))
    if len(t) and (t.min() < 0 or t.max() >= NMNIST_T_LIMIT or x.min() < 0 or x.max() > 255 or y.min() < 0
                   or y.max() > 255 or not np.isin(p, (0, 1)).all()):  # fmt: skip
        raise ValueError("N-MNIST records hold 0 <= x, y < 256, p in {0, 1} and 0 <= t < 2^23 µs")
    records = np.zeros((len(t), NMNIST_EVENT_BYTES), np.uint8)
    records[:, 0], records[:, 1] = x, y
    records[:, 2] = (p << 7) | (t >> 16)
    records[:, 3], records[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    Path(path).write_bytes(records.tobytes())


# ---------------------------------------------------------------- DVS128 Gesture, tonic's .npy layout
def read_gesture_npy(path: str | Path) -> Events:
    """A tonic DVSGesture sample: an (N, 4) array of rows (x, y, p, t in ms) → Events in µs."""
    try:
        rows = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as exc:
        raise EventFileError(f"not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise EventFileError(f"holds an array of shape {rows.shape}; expected (events, 4) rows of x, y, p, t (ms)")
    if rows.dtype.kind not in "biuf":
        raise EventFileError(f"holds {rows.dtype} values; expected numbers: rows of x, y, p, t (ms)")
    # As read: whole-number pixels and polarity, finite times, are the caller's check (events.check_events).
    return Events(np.rint(rows[:, 3] * 1000), rows[:, 0], rows[:, 1], rows[:, 2])


def write_gesture_npy(path: str | Path, events: Events) -> None:
    """Events as tonic's DVSGesture .npy: float64 rows (x, y, p, t in ms)."""
    rows = np.stack([events.x, events.y, events.p, np.asarray(events.t_us) / 1000], axis=1).astype(np.float64)
    np.save(path, rows, allow_pickle=False)
