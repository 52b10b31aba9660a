"""Several processes: ``torch.distributed`` from the ``torchrun`` environment, or local processes
spawned by :func:`run_local_processes` (tests, one machine).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """This process's place in an initialised ``torch.distributed`` run (else one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    world = dist.get_world_size()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return DistInfo(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", dist.get_rank())),
                    local_world)


def init_distributed(backend: str | None = None) -> DistInfo:
    """Initialise ``torch.distributed`` from the ``torchrun`` environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); NCCL when CUDA is available, else gloo.
    Returns one-process info when ``WORLD_SIZE`` is unset or 1."""
    if dist.is_available() and dist.is_initialized():
        return dist_info()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend)
    return dist_info()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _spawned(rank: int, world: int, port: int, backend: str, result_dir: str,
             target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "LOCAL_WORLD_SIZE": str(world)})
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        result = target(*args)
        torch.save(result, Path(result_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_local_processes(
    world_size: int, target: Callable[..., Any], *args: Any, backend: str | None = None
) -> list[Any]:
    """Run ``target(*args)`` in ``world_size`` local processes (``torch.multiprocessing``
    spawn) joined in a ``torch.distributed`` group on 127.0.0.1 at a free port; returns each
    rank's return value (which must pickle with ``torch.save``). ``target`` must be importable
    (a module-level function)."""
    import torch.multiprocessing as mp

    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    with tempfile.TemporaryDirectory(prefix="mossfuse-ddp-") as tmp:
        mp.spawn(_spawned, args=(world_size, free_port(), backend, tmp, target, args),
                 nprocs=world_size, join=True)
        return [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=False)
                for r in range(world_size)]
