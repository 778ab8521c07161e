"""Model → graph: typed nodes with BatchNorm folded, identity shortcuts explicit, average pools folded.

``capture(model, ...)`` walks an ``EnofNet`` (docs/design.md §3) structurally — the module
types are known, so no tracer is needed: ``capture_handlers()`` maps each module type to the walker
method that turns it into nodes — and returns a ``Graph``: nodes in topological order, each naming its
source node(s). Activations (LIF, ReLU) sum all their sources (residual joins). Shapes are per
sample, torch layout, without time or batch. The walk and its errors use torch module paths (what
the model's code says); the graph's nodes carry readable names (enof.exporter.names), each with
its module path in ``Graph.module_paths``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from enof import folding
from enof.errors import UnsupportedModuleError
from enof.folding import BatchNormStats, fold_avgpool_into_conv
from enof.exporter.names import BlockSeen, is_block, is_identity_shortcut, readable_names
from enof.exporter.nodes import (  # noqa: F401  (the graph's node types, imported from here by its users)
    INPUT,
    FlattenNode,
    Graph,
    LifNode,
    Node,
    PoolNode,
    ReluNode,
    WeightNode,
)
from enof.synapses import Connection
from enof.synapses.conv import conv_output_size

SUPPORTED = (
    "Conv2d, BatchNorm2d (after a conv/linear), LIF, RepActReLU/ReLU, AvgPool2d (kernel = stride, "
    "no padding, before a conv), BasicBlock, Flatten, Linear, Sequential, Identity, Dropout"
)


@dataclass(frozen=True)
class NeuronParams:
    decay: float = 0.25
    v_threshold: float = 0.5


@dataclass
class Ref:
    """What a GraphBuilder hands back: a tensor = sum of ``sources`` (all of one shape), pooled by ``pool_k`` not yet applied."""

    sources: tuple[str, ...]
    shape: tuple[int, ...]
    pool_k: int = 1
    foldable: str | None = None  # weight node a following BatchNorm may fold into


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray, bn: nn.BatchNorm2d | nn.BatchNorm1d):
    """BN(W·x + b) folded into W and b (enof.folding.fold_batchnorm, on the module's statistics)."""
    return folding.fold_batchnorm(weight, bias, BatchNormStats.of(bn))


Handler = Callable[["_Walker", str, nn.Module, "Ref"], "Ref"]


@functools.cache
def capture_handlers() -> dict[type, Handler]:
    """Module type → the walker method that turns such a module into nodes: ``(walker, path, module, ref)
    → ref``. A subclass takes its nearest base's entry (RepActReLU is a ReLU); a module with a residual
    block's attributes is a block whatever its type. A new layer type is one entry here."""
    from enof.trainer.neurons import LIF  # the trainer's neuron; imported when a model is captured

    return {
        nn.Sequential: _Walker.sequence, nn.Identity: _Walker.skip, nn.Dropout: _Walker.skip,
        nn.Conv2d: _Walker.conv, nn.Linear: _Walker.linear,
        nn.BatchNorm2d: _Walker.batchnorm, nn.BatchNorm1d: _Walker.batchnorm,
        LIF: _Walker.lif, nn.ReLU: _Walker.relu,
        nn.AvgPool2d: _Walker.avgpool, nn.Flatten: _Walker.flatten,
    }  # fmt: skip


def _handler(module: nn.Module) -> Handler | None:
    table = capture_handlers()
    return next((table[cls] for cls in type(module).__mro__ if cls in table), None)


@dataclass(frozen=True)
class PendingWeights:
    """A weight node taken back from a GraphBuilder before it was committed."""

    kind: str  # its synapse kind (enof.synapses.KINDS): "conv" or "dense"
    sources: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray


class GraphBuilder:
    """Builds a Graph's nodes in order; the public way to make one (capture, enof.exporter.from_nir). A weight
    node stays pending until the activation that consumes it, so what follows it (a BatchNorm, a Scale, the
    gain of the neuron it feeds) can still fold into its weight and bias (``fold_into``)."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self._pending: dict[str, dict] = {}  # weight nodes under construction, by name

    def is_pending(self, name: str) -> bool:
        """Whether ``name`` is a weight node not yet consumed by an activation."""
        return name in self._pending

    @property
    def pending(self) -> list[str]:
        return list(self._pending)

    def _check_input_is_activation(self, name: str, ref: Ref) -> None:
        if len(ref.sources) != 1:
            raise UnsupportedModuleError(f"{name}: a weight layer on a sum of tensors is not supported; supported: {SUPPORTED}")
        if ref.sources[0] in self._pending:
            raise UnsupportedModuleError(
                f"{name}: two weight layers in a row ({ref.sources[0]} → {name}); put a LIF between them"
            )

    def conv(self, name, ref: Ref, weight, bias, stride, padding, role="conv") -> Ref:
        """A conv on ``ref`` (an AvgPool2d pending on it folds in); its node is pending."""
        self._check_input_is_activation(name, ref)
        c, h, w = ref.shape
        k = ref.pool_k
        if k > 1 and (h % k or w % k):
            raise UnsupportedModuleError(
                f"{name}: AvgPool2d({k}) before it needs input height/width divisible by {k}, got {h}×{w}"
            )
        if weight.shape[1] != c:
            raise UnsupportedModuleError(f"{name}: conv expects {weight.shape[1]} input channels, gets {c}")
        weight, stride, padding = fold_avgpool_into_conv(weight, stride, padding, k)
        kernel = tuple(int(k) for k in weight.shape[2:])
        out = [conv_output_size((h, w)[d], kernel[d], stride[d], padding[d]) for d in range(2)]
        if min(out) < 1:
            raise UnsupportedModuleError(f"{name}: a {kernel[0]}×{kernel[1]} kernel with padding {tuple(padding)} does "
                                         f"not fit its {h}×{w} input")
        conn = Connection("conv", tuple(ref.shape), (weight.shape[0], *out), kernel, stride, padding)
        return self.synapses(name, ref, conn, weight, bias, role)

    def synapses(self, name: str, ref: Ref, connection: Connection, weight, bias, role: str = "") -> Ref:
        """A weight node of any kind on ``ref``, its geometry ``connection``; the node is pending."""
        self._pending[name] = dict(name=name, sources=ref.sources, shape=connection.target_shape,
                                   connection=connection, weight=weight, bias=bias, role=role)  # fmt: skip
        return Ref((name,), connection.target_shape, 1, foldable=name)

    def dense(self, name, ref: Ref, weight, bias) -> Ref:
        """A dense layer on a flat ``ref``; its node is pending."""
        self._check_input_is_activation(name, ref)
        if len(ref.shape) != 1 or ref.pool_k != 1:
            raise UnsupportedModuleError(
                f"{name}: Linear needs one flat (Flatten-ed) source, gets shape {ref.shape}; supported: {SUPPORTED}"
            )
        if weight.shape[1] != ref.shape[0]:
            raise UnsupportedModuleError(f"{name}: Linear expects {weight.shape[1]} inputs, gets {ref.shape[0]}")
        return self.synapses(name, ref, Connection("dense", tuple(ref.shape), (weight.shape[0],)), weight, bias)

    def fold_into(self, name: str, fold: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace pending weight node ``name``'s (weight, bias) by ``fold(weight, bias)``."""
        raw = self._pending[name]
        raw["weight"], raw["bias"] = fold(raw["weight"], raw["bias"])

    def set_role(self, name: str, role: str) -> None:
        """The role of pending conv ``name`` (conv | identity-shortcut | shortcut)."""
        self._pending[name]["role"] = role

    def take(self, name: str) -> PendingWeights:
        """Remove pending weight node ``name`` and return what it held."""
        raw = self._pending.pop(name)
        return PendingWeights(raw["connection"].kind, raw["sources"], raw["weight"], raw["bias"])

    def commit(self, names) -> None:
        """Make the pending weight nodes among ``names`` final nodes (float32 weights and biases)."""
        for n in names:
            raw = self._pending.pop(n, None)
            if raw is None:
                continue
            raw["weight"] = raw["weight"].astype(np.float32)
            raw["bias"] = raw["bias"].astype(np.float32)
            self.nodes[n] = WeightNode(**raw)

    def activation(self, node_type: type[Node], name: str, ref: Ref, **params) -> Ref:
        """An activation node (LifNode, ReluNode) on the sum of ``ref``'s sources, which it commits."""
        if ref.pool_k != 1:
            raise UnsupportedModuleError(f"{name}: AvgPool2d must be followed by a conv, not an activation")
        self.commit(ref.sources)
        self.nodes[name] = node_type(name, ref.sources, ref.shape, **params)
        return Ref((name,), ref.shape)

    def flatten(self, name: str, ref: Ref) -> Ref:
        """A Flatten view of an activation (or the input): all of a sample's dimensions."""
        shape = (int(np.prod(ref.shape)),)
        self.nodes[name] = FlattenNode(name, ref.sources, shape, in_shape=tuple(ref.shape))
        return Ref((name,), shape)

    def add(self, node: Node) -> Ref:
        """Any other node (the head's PoolNode), as it is."""
        self.nodes[node.name] = node
        return Ref((node.name,), node.shape)


class _Walker:
    """Walks a model in torch module paths, building its nodes with a ``GraphBuilder``."""

    def __init__(self, neuron: NeuronParams):
        self.build = GraphBuilder()
        self.neuron = neuron
        self.blocks: list[BlockSeen] = []

    def walk(self, path: str, module: nn.Module, ref: Ref) -> Ref:
        if is_block(module):
            return self.block(path, module, ref)
        handler = _handler(module)
        if handler is None:
            raise UnsupportedModuleError(
                f"{path}: {type(module).__name__} is not supported by the exporter; supported: {SUPPORTED}"
            )
        return handler(self, path, module, ref)

    # ---- handlers (capture_handlers): (path, module, ref) → ref
    def sequence(self, path: str, module: nn.Sequential, ref: Ref) -> Ref:
        for child_name, child in module.named_children():
            ref = self.walk(f"{path}.{child_name}", child, ref)
        return ref

    def skip(self, path: str, module: nn.Module, ref: Ref) -> Ref:
        return ref

    def conv(self, path: str, module: nn.Conv2d, ref: Ref) -> Ref:
        if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
            raise UnsupportedModuleError(f"{path}: Conv2d with groups/dilation/padding_mode; supported: {SUPPORTED}")
        if isinstance(module.padding, str):
            raise UnsupportedModuleError(f"{path}: Conv2d padding={module.padding!r} must be given as numbers")
        bias = _np(module.bias) if module.bias is not None else np.zeros(module.out_channels)
        return self.build.conv(path, ref, _np(module.weight), bias, tuple(module.stride), tuple(module.padding))

    def linear(self, path: str, module: nn.Linear, ref: Ref) -> Ref:
        bias = _np(module.bias) if module.bias is not None else np.zeros(module.out_features)
        return self.build.dense(path, ref, _np(module.weight), bias)

    def batchnorm(self, path: str, bn: nn.BatchNorm2d | nn.BatchNorm1d, ref: Ref) -> Ref:
        if ref.foldable is None or not self.build.is_pending(ref.foldable):
            raise UnsupportedModuleError(f"{path}: BatchNorm must directly follow a Conv2d or Linear")
        if bn.running_mean is None or bn.running_var is None:
            raise UnsupportedModuleError(f"{path}: BatchNorm without running statistics cannot be folded")
        self.build.fold_into(ref.foldable, lambda weight, bias: fold_batchnorm(weight, bias, bn))
        return Ref(ref.sources, ref.shape, 1, foldable=None)

    def lif(self, path: str, module: nn.Module, ref: Ref) -> Ref:
        params = getattr(module, "neuron", self.neuron)  # enof.trainer.neurons.LIF carries its NeuronConfig
        return self.build.activation(LifNode, path, ref, decay=float(params.decay), v_threshold=float(params.v_threshold))

    def relu(self, path: str, module: nn.ReLU, ref: Ref) -> Ref:
        return self.build.activation(ReluNode, path, ref)

    def flatten(self, path: str, module: nn.Flatten, ref: Ref) -> Ref:
        if ref.pool_k != 1 or len(ref.sources) != 1 or self.build.is_pending(ref.sources[0]) or module.start_dim != 1:
            raise UnsupportedModuleError(f"{path}: Flatten must follow an activation (start_dim=1)")
        return self.build.flatten(path, ref)

    def avgpool(self, path: str, module: nn.AvgPool2d, ref: Ref) -> Ref:
        def pair(v):
            return (v, v) if isinstance(v, int) else tuple(v)

        k, s, p = pair(module.kernel_size), pair(module.stride or module.kernel_size), pair(module.padding)
        if k[0] != k[1] or k != s or p != (0, 0) or module.ceil_mode:
            raise UnsupportedModuleError(
                f"{path}: AvgPool2d(kernel={k}, stride={s}, padding={p}) — only square kernel = stride, "
                "no padding, is folded into the next conv"
            )
        if self.build.is_pending(ref.sources[0]) or len(ref.sources) != 1:
            raise UnsupportedModuleError(f"{path}: AvgPool2d must follow an activation")
        return Ref(ref.sources, ref.shape, ref.pool_k * k[0])

    def block(self, path: str, block: nn.Module, x: Ref) -> Ref:
        seen = len(self.blocks)
        self.blocks.append(BlockSeen(path, changes_shape=False))  # before its parts: blocks in the order met
        main = x
        for part in ("conv1", "bn1", "act1", "conv2", "bn2"):
            main = self.walk(f"{path}.{part}", getattr(block, part), main)
        if is_identity_shortcut(block.shortcut):
            c = x.shape[0]
            eye = np.zeros((c, c, 1, 1))
            eye[np.arange(c), np.arange(c)] = 1.0
            side = self.build.conv(f"{path}.shortcut", x, eye, np.zeros(c), (1, 1), (0, 0), role="identity-shortcut")
        else:
            side = self.walk(f"{path}.shortcut", block.shortcut, x)
            if not self.build.is_pending(side.sources[0]):
                raise UnsupportedModuleError(f"{path}.shortcut: must end in a conv (+BN)")
            self.build.set_role(side.sources[0], "shortcut")
        if side.shape != main.shape:
            raise UnsupportedModuleError(f"{path}: shortcut shape {side.shape} != main path {main.shape}")
        self.blocks[seen] = BlockSeen(path, changes_shape=tuple(x.shape) != tuple(main.shape))
        return self.walk(f"{path}.act2", block.act2, Ref(main.sources + side.sources, main.shape))


def _renamed(nodes: dict[str, Node], names: dict[str, str]) -> dict[str, Node]:
    """``nodes`` (keyed by module path) under their readable names, sources renamed alike."""
    rename = {**names, INPUT: INPUT}
    return {
        names[path]: replace(node, name=names[path], sources=tuple(rename[s] for s in node.sources))
        for path, node in nodes.items()
    }


def capture(
    model: nn.Module, input_shape: tuple[int, ...], timesteps: int, neuron: NeuronParams = NeuronParams()
) -> Graph:
    """The graph of an EnofNet (``backbone``, ``pool``, ``fc``) for inputs of ``input_shape`` (C, H, W),
    its nodes under readable names (enof.exporter.names)."""
    if getattr(model, "mode", "snn") != "snn":
        raise UnsupportedModuleError(f"model mode {model.mode!r}: only spiking (mode='snn') networks can be exported")
    for attr in ("backbone", "pool", "fc"):
        if not hasattr(model, attr):
            raise UnsupportedModuleError(f"model has no '{attr}': not an EnofNet (design.md §3)")
    walker = _Walker(neuron)
    ref = walker.walk("backbone", model.backbone, Ref((INPUT,), tuple(input_shape)))
    if walker.build.pending or ref.pool_k != 1 or ref.sources[0] not in walker.build.nodes:
        raise UnsupportedModuleError("backbone must end in an activation (LIF or RepAct ReLU)")
    names = readable_names([(path, node.kind_word) for path, node in walker.build.nodes.items()], walker.blocks)
    if not isinstance(model.pool, (nn.AdaptiveAvgPool2d, nn.Identity)):
        raise UnsupportedModuleError(f"pool: {type(model.pool).__name__} is not supported (AdaptiveAvgPool2d(1))")
    if isinstance(model.pool, nn.AdaptiveAvgPool2d) and model.pool.output_size not in (1, (1, 1)):
        raise UnsupportedModuleError(f"pool: AdaptiveAvgPool2d({model.pool.output_size}) must have output size 1")
    walker.build.add(PoolNode("pool", ref.sources, (ref.shape[0],)))
    if not isinstance(model.fc, nn.Linear):
        raise UnsupportedModuleError(f"fc: {type(model.fc).__name__} is not supported (Linear)")
    fc_bias = _np(model.fc.bias) if model.fc.bias is not None else np.zeros(model.fc.out_features)
    walker.build.dense("fc", Ref(("pool",), (ref.shape[0],)), _np(model.fc.weight), fc_bias)
    walker.build.commit(["fc"])
    names.update(pool="pool", fc="fc")  # the head's own attribute names already read well
    nodes = _renamed(walker.build.nodes, names)
    return Graph(nodes, tuple(input_shape), int(timesteps), "fc", {name: path for path, name in names.items()})
