"""Readable layer names from a network's structure, for every table, plot and file a user reads.

The capture walks torch module paths (``backbone.12.conv1``); what a user reads is where a layer sits:

- a residual block is ``stage<s>.block<b>`` and its layers keep the block's attribute names
  (``stage2.block0.conv1``, ``.act1``, ``.conv2``, ``.shortcut``, ``.act2``). Stages count from 1 and
  blocks within a stage from 0, as torchvision's ``layer1``…``layer4``: the first block opens stage 1 and
  every block that changes width or stride (its output shape is not its input's) opens the next one.
- the layers before the first block are ``stem.<kind><n>``; layers after a block belong to its stage
  (``stage4.conv1``). A network without blocks (digits_cnn, mnist_cnn) has no prefix at all:
  ``conv1, act1, conv2, …`` — "stem" would name a part of a network that here is the whole of it.
- ``<kind>`` is the node kind's word (``conv``, ``fc``, ``act`` for LIF and ReLU alike, ``flatten``),
  numbered from 1 per kind within its prefix, so a conv and the activation after it share a number,
  as in a block's ``conv1``/``act1``. BatchNorm and AvgPool fold into the conv and are not layers.

The head's ``pool`` and ``fc`` are the network's own attribute names and stay as they are. The torch
path of every node is kept beside its name (``Graph.module_paths``, the bundle's manifest). The
structural tests the capture and the naming share (``is_block``, ``is_identity_shortcut``) live here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

BLOCK_PARTS = ("conv1", "bn1", "act1", "conv2", "bn2", "shortcut", "act2")


def is_block(module: nn.Module) -> bool:
    """A residual block (docs/design.md §3): the attributes of enof's BasicBlock, whatever its type."""
    return all(hasattr(module, part) for part in BLOCK_PARTS)


def is_identity_shortcut(shortcut: nn.Module) -> bool:
    """An identity shortcut: an empty Sequential (enof's BasicBlock) or nn.Identity."""
    return isinstance(shortcut, nn.Sequential) and len(shortcut) == 0 or isinstance(shortcut, nn.Identity)


@dataclass(frozen=True)
class BlockSeen:
    """A residual block as the capture met it: its module path and whether it changes the shape."""

    path: str
    changes_shape: bool


def _inside(path: str, prefix: str) -> bool:
    return path.startswith(prefix + ".")


def readable_names(layers: Sequence[tuple[str, str]], blocks: Sequence[BlockSeen]) -> dict[str, str]:
    """Module path → readable name for ``layers`` ((module path, kind word) in graph order) of a network
    whose residual blocks are ``blocks`` (in the order the capture met them)."""
    block_names: dict[str, str] = {}
    stage = index = 0
    for block in blocks:
        if stage == 0 or block.changes_shape:
            stage, index = stage + 1, 0
        else:
            index += 1
        block_names[block.path] = f"stage{stage}.block{index}"

    in_block = {path: next((b.path for b in blocks if _inside(path, b.path)), None) for path, _ in layers}
    # within a block a layer takes the attribute it sits under (a downsampling shortcut's conv is
    # ``.shortcut``), unless that attribute holds several layers: then its whole path below the block
    below = {path: path[len(block) + 1 :] for path, block in in_block.items() if block is not None}
    per_part = Counter((in_block[path], rest.split(".")[0]) for path, rest in below.items())
    names: dict[str, str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    section = "stem" if blocks else ""
    for path, kind in layers:
        block = in_block[path]
        if block is not None:
            part = below[path].split(".")[0]
            names[path] = f"{block_names[block]}.{part if per_part[(block, part)] == 1 else below[path]}"
            section = block_names[block].split(".")[0]
            continue
        counts[(section, kind)] += 1
        name = f"{kind}{counts[(section, kind)]}"
        names[path] = f"{section}.{name}" if section else name
    return names
