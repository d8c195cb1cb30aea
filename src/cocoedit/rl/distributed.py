"""Process-group helpers, no-ops in a single process.

The trainer runs as one process per GPU under ``torchrun`` or ``accelerate launch``; these are the
few collectives it needs (gather rewards, average gradients, agree on adapters) and the FSDP2
sharding of the transformer. With one process every helper returns its input.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from cocoedit.core.errors import CocoEditError


class ProcessGroup:
    """The current process group (or a single process when none is initialised)."""

    def __init__(self) -> None:
        self.enabled = dist.is_available() and dist.is_initialized()
        self.world = dist.get_world_size() if self.enabled else 1
        self.rank = dist.get_rank() if self.enabled else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Every process's ``t`` concatenated along dim 0, in rank order."""
        if not self.enabled:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every process's ``obj`` (picklable), in rank order."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """Whether ``flag`` is true on any process."""
        if not self.enabled:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def average_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """All-reduce the gradients to their mean (what DDP does, without bucketing)."""
        if not self.enabled:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(self.world)

    def check_identical(self, tensors: Sequence[torch.Tensor], what: str) -> None:
        """Raise unless every process holds the same ``tensors`` (compared by a hash)."""
        if not self.enabled:
            return
        digest = hashlib.sha256()
        for t in tensors:
            digest.update(full_tensor(t.detach()).float().cpu().numpy().tobytes())
        hashes = self.gather_objects(digest.hexdigest())
        if len(set(hashes)) != 1:
            differing = [r for r, h in enumerate(hashes) if h != hashes[0]]
            raise CocoEditError(f"{what} differ between processes (ranks {differing} differ from rank 0)")

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (collective; in float64, so a single process's
        values come back unchanged)."""
        if not self.enabled or not values:
            return dict(values)
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return dict(zip(values, (t / self.world).tolist(), strict=True))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def fewer_processes_than_asked(env: dict[str, str]) -> bool:
    """Whether ``accelerate launch`` was asked for several processes and started one.

    Without ``--multi_gpu`` (and without several GPUs to make it so), or with ``--cpu``,
    ``accelerate launch --num_processes N`` runs its single-process launcher: it sets
    ``ACCELERATE_USE_CPU``, and for N > 1 ``MASTER_ADDR``, but starts one process with no
    ``WORLD_SIZE``. A real distributed launch always sets ``WORLD_SIZE``."""
    return "ACCELERATE_USE_CPU" in env and "MASTER_ADDR" in env and "WORLD_SIZE" not in env


def init_distributed() -> None:
    """Join the process group when launched by ``accelerate launch`` or torchrun (WORLD_SIZE > 1):
    accelerate picks the backend (NCCL on GPUs, gloo on CPUs). One line warns when accelerate was
    asked for several processes and started one (:func:`fewer_processes_than_asked`)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (dist.is_available() and dist.is_initialized()):
        from accelerate import PartialState

        PartialState()
    elif fewer_processes_than_asked(dict(os.environ)):
        logging.getLogger("cocoedit").warning(
            "accelerate launch started 1 process, not the --num_processes asked for (without --multi_gpu, or "
            "with --cpu, it runs a single process): add --multi_gpu (it works on CPUs too, with gloo) or use "
            "torchrun --nproc_per_node N"
        )


def default_device() -> str:
    """``cuda:<local rank>`` when CUDA is available, else ``cpu``."""
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor from a DTensor shard (collective), anything else unchanged."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def shard_transformer(transformer: torch.nn.Module, world: int) -> None:
    """FSDP2: shard every block of the transformer's block lists, then the rest of it."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device_type = "cuda" if next(transformer.parameters()).is_cuda else "cpu"
    mesh = init_device_mesh(device_type, (world,))
    for child in transformer.children():
        if isinstance(child, torch.nn.ModuleList):
            for block in child:
                fully_shard(block, mesh=mesh)
    fully_shard(transformer, mesh=mesh)
