"""Where and how a training run computes: device, mixed precision, memory layout, compilation.

`resolve_execution(...)` turns the user's choices (`--device`, `--amp`, `--channels-last`,
`--compile`, `--deterministic`) into one `Execution`, refusing impossible ones in one line
before any work starts. The training loop and `benchmarks/train_step.py` run their steps
through it, so the benchmark measures what `enof-train` does.

What stays float32 under autocast, and why:
- the LIF membrane state: `LIF.forward` casts its input current to float32 before the
  recurrence, so `v` and the threshold comparison are float32. In bf16 (8-bit mantissa) a
  membrane of 0.49 vs a threshold of 0.5 is one rounding step apart: the spike pattern would
  depend on the precision, and the exported fixed-point network is calibrated on float32.
- thresholds and decay are Python floats (float32 when they meet a tensor).
- the losses: CE and the L_AF / KD softmaxes take float32 logits (`losses.py` casts them):
  with τ = 20 the logits are divided by 20, and a bf16 softmax of such flat distributions
  loses most of the KL signal.
Spikes are 0/1, exact in every format, so the convolutions that take them may run in bf16/fp16.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from enof.errors import EnofError

AMP_MODES = ("auto", "bf16", "fp16", "off")
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Execution:
    """A resolved choice: `device`, `amp` ("bf16" | "fp16" | "off"), layout and compilation."""

    device: torch.device
    amp: str = "off"
    channels_last: bool = False
    compile: bool = False
    deterministic: bool = False

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the AMP dtype on this device; a no-op context when AMP is off."""
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_AMP_DTYPES[self.amp])

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler for fp16 (its 5-bit exponent underflows small gradients); a pass-through
        (disabled, `step` is `optimizer.step`) for bf16 and float32."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move `model` to the device (and channels-last layout); compile it if asked (in place,
        so its state_dict keys stay those of the plain module)."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            model.compile()
        return model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """A loader batch on the device (asynchronous from pinned memory on CUDA)."""
        x = x.to(self.device, non_blocking=self.is_cuda)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def apply_backend_flags(self) -> None:
        """cuDNN autotuning on CUDA unless deterministic; TF32 convolutions and matmuls stay off
        (the float results must not depend on the GPU generation more than float32 rounding)."""
        if self.is_cuda:
            torch.backends.cudnn.benchmark = not self.deterministic
            torch.backends.cudnn.deterministic = self.deterministic
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    def describe(self) -> str:
        layout = ", channels-last" if self.channels_last else ""
        compiled = ", compiled" if self.compile else ""
        amp = "float32" if self.amp == "off" else f"AMP {self.amp}"
        return f"{self.device}, {amp}{layout}{compiled}"


def full_precision(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32 when autocast made it bf16/fp16; float32 and float64 stay as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Backward and update through the scaler (plain `backward` + `step` when it is disabled)."""
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """`auto` → CUDA when torch sees a GPU (under torchrun: the process's local rank's GPU), else
    CPU; `cpu`; `cuda` (the local rank's GPU) or `cuda:N`. Refused when that GPU is not there."""
    choice = choice.strip().lower()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return torch.device("cpu")
    if choice != "cuda" and not choice.startswith("cuda:"):
        raise EnofError(f"--device {choice}: unknown device; choose auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise EnofError(f"--device {choice}: torch sees no CUDA GPU here (torch {torch.__version__}, "
                        f"built for CUDA {torch.version.cuda}); use --device cpu or auto")
    count = torch.cuda.device_count()
    if choice == "cuda":
        index = local_rank
    else:
        try:
            index = int(choice.removeprefix("cuda:"))
        except ValueError:
            raise EnofError(f"--device {choice}: expected cuda:N with N an integer") from None
    if not 0 <= index < count:
        raise EnofError(f"--device {choice}: GPU {index} does not exist (torch sees {count}: cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def resolve_execution(device: str = "auto", amp: str = "auto", channels_last: bool | None = None,
                      compile: bool = False, deterministic: bool = False, local_rank: int = 0) -> Execution:
    """The `Execution` for these choices. `amp="auto"`: bf16 on CUDA, off on CPU (CPU runs keep
    their float32 results); `channels_last=None`: on CUDA only (cuDNN's fast NHWC kernels)."""
    resolved_device = resolve_device(device, local_rank)
    cuda = resolved_device.type == "cuda"
    if amp not in AMP_MODES:
        raise EnofError(f"--amp {amp}: choose one of {', '.join(AMP_MODES)}")
    if amp == "auto":
        amp = "bf16" if cuda else "off"
    if amp == "fp16" and not cuda:
        raise EnofError("--amp fp16: float16 autocast needs CUDA; on CPU use --amp bf16 or --amp off")
    if amp == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise EnofError(f"--amp bf16: {torch.cuda.get_device_name(resolved_device)} has no bfloat16; use --amp fp16")
    return Execution(resolved_device, amp, cuda if channels_last is None else channels_last, compile, deterministic)
