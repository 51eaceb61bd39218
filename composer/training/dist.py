"""Training on several processes: torch.distributed as `torchrun` sets it up.

    torchrun --nproc_per_node=4 -m composer train CORPUS --out RUN ...

torchrun starts one process (rank) per GPU or CPU slot and sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT; `Dist.from_env()` joins the process group (NCCL on CUDA, Gloo on
CPU). Without those variables (or with WORLD_SIZE=1) training is the plain single process and
nothing here touches torch.distributed.

The division of labour: rank 0 tokenises the corpus and writes everything in the run folder
(checkpoints, metrics, plots, the replay sample); the other ranks wait for it, read the same
token cache, and only compute (a collective waits up to TIMEOUT_S: a rank that dies is
noticed sooner, by torchrun and by the broken connection). A failure on rank 0 before
training starts is sent to the others (`shared`), so every rank stops with the same message
instead of waiting.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..errors import ComposerError

TIMEOUT_S = 2 * 3600  # of a collective: time enough for rank 0 to tokenise a large corpus while the others wait


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: not distributed
    owned: bool = False  # this process group was set up here (and is taken down by close)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.backend is not None

    @classmethod
    def from_env(cls, device: str) -> Dist:
        """Join torchrun's process group when WORLD_SIZE > 1; a single process otherwise.
        `device` is the training device setting (auto/cpu/cuda/mps)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch
        import torch.distributed as td

        if device == "mps":
            raise ComposerError("distributed training runs on CUDA (NCCL) or CPU (Gloo), not mps")
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        backend = "nccl" if cuda else "gloo"
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        owned = not td.is_initialized()
        if owned:  # the other ranks wait in a collective while rank 0 tokenises a new corpus
            td.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
        return cls(td.get_rank(), td.get_world_size(), local, td.get_backend(), owned)

    def device(self, picked: str) -> str:
        """The device this rank trains on: its own GPU under CUDA."""
        return f"cuda:{self.local_rank}" if self.on and picked == "cuda" else picked

    def shared(self, fn):
        """Run `fn` on rank 0 only; every rank gets its result (which must pickle), or raises
        rank 0's ComposerError. On a single process: just fn()."""
        if not self.on:
            return fn()
        import torch.distributed as td

        box = [None]
        if self.main:
            try:
                box[0] = ("ok", fn())
            except ComposerError as e:
                td.broadcast_object_list([("error", str(e))], src=0)
                raise
            except BaseException as e:
                td.broadcast_object_list([("error", f"rank 0 failed: {type(e).__name__}: {e}")], src=0)
                raise
        td.broadcast_object_list(box, src=0)
        kind, value = box[0]
        if kind == "error":
            raise ComposerError(value)
        return value

    def any(self, flag: bool, device: str) -> bool:
        """True on every rank when `flag` is true on any (a stop request)."""
        if not self.on:
            return flag
        import torch
        import torch.distributed as td

        t = torch.tensor([1.0 if flag else 0.0], device=device)
        td.all_reduce(t)
        return bool(t.item() > 0)

    def sum(self, value: float, device: str) -> float:
        if not self.on:
            return value
        import torch
        import torch.distributed as td

        t = torch.tensor([value], dtype=torch.float64, device=device)
        td.all_reduce(t)
        return float(t.item())

    def barrier(self) -> None:
        if self.on:
            import torch.distributed as td

            td.barrier()

    def close(self) -> None:
        if self.on and self.owned:
            import torch.distributed as td

            if td.is_initialized():
                td.destroy_process_group()
