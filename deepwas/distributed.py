"""Training in several processes (``torchrun``): the process group a fit runs in.

Under ``torchrun --nproc-per-node N`` every process runs the same program; torchrun sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address. :func:`process_group`
joins that group (``gloo`` on CPU, ``nccl`` for CUDA devices) the first time a fit needs it,
or uses a group the program initialised itself (``torch.distributed.init_process_group``).
Without ``WORLD_SIZE`` > 1 and without an initialised group, a fit runs in one process and
nothing here communicates.

:class:`ProcessGroup` is the little a fit needs from torch.distributed: sum a tensor over the
processes, hand rank 0's object (a resume state, an error) to every process, and run a step on
rank 0 only (writing files) while the others learn its outcome, so that a failure there is
raised in every process instead of leaving them waiting in the next collective.
"""
from __future__ import annotations

import atexit
import datetime
import os

import torch

__all__ = ["ProcessGroup", "process_group", "is_main_process", "SINGLE", "DEFAULT_TIMEOUT"]

#: how long a collective waits for the other processes before it fails (a process group this
#: module initialises; torch's default for gloo)
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


class ProcessGroup:
    """The processes of one fit, numbered by ``rank`` from 0 to ``world_size - 1``.

    Parameters
    ----------
    rank, world_size, local_rank : int
        As torchrun numbers the processes (``local_rank`` within a node: its GPU).
    backend : str or None
        The torch.distributed backend, or None for a single process.
    """

    def __init__(self, rank=0, world_size=1, local_rank=0, backend=None):
        self.rank, self.world_size = int(rank), int(world_size)
        self.local_rank, self.backend = int(local_rank), backend

    def __repr__(self):
        return (f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, "
                f"backend={self.backend!r})")

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def device(self, device):
        """``device`` for this process: ``"cuda"`` without an index becomes ``cuda:LOCAL_RANK``
        in a distributed fit (one GPU per process)."""
        device = torch.device(device)
        if self.distributed and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def all_reduce_sum(self, tensor):
        """Sum ``tensor`` over the processes, in place (every process gets the same values);
        returns it."""
        if not self.distributed:
            return tensor
        import torch.distributed as dist

        # gloo reduces CPU tensors, nccl CUDA tensors: the other kind makes a round trip
        if tensor.is_cuda and self.backend == "gloo":
            host = tensor.cpu()
            dist.all_reduce(host, op=dist.ReduceOp.SUM)
            tensor.copy_(host)
        elif not tensor.is_cuda and self.backend == "nccl":
            dev = tensor.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(dev, op=dist.ReduceOp.SUM)
            tensor.copy_(dev.cpu())
        else:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast(self, obj):
        """Rank 0's ``obj`` (any picklable object), in every process."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self):
        """Wait until every process gets here."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def on_main(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` run on rank 0 only; its result, or the exception it raised,
        reaches every process (so all of them stop together)."""
        outcome = None
        if self.is_main:
            try:
                outcome = ("ok", fn(*args, **kwargs))
            except Exception as exc:     # noqa: BLE001 - re-raised below, in every process
                outcome = ("error", exc)
        kind, value = self.broadcast(outcome)
        if kind == "error":
            raise value
        return value

    def broadcast_module(self, module):
        """Overwrite ``module``'s parameters and buffers by rank 0's (in place)."""
        if not self.distributed:
            return module
        state = self.broadcast({k: v.detach().cpu() for k, v in module.state_dict().items()})
        module.load_state_dict(state)
        return module


#: the group of a fit that runs in one process
SINGLE = ProcessGroup()


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def process_group(device="cpu"):
    """The :class:`ProcessGroup` this process trains in.

    An initialised ``torch.distributed`` group is used as it is; otherwise, with
    ``WORLD_SIZE`` > 1 in the environment (torchrun), the group is initialised from it
    (``env://``; backend ``nccl`` when ``device`` is a CUDA device and nccl is available,
    ``gloo`` otherwise) and kept for the life of the process; otherwise :data:`SINGLE`.
    """
    import torch.distributed as dist

    if not dist.is_available():
        return SINGLE
    if not dist.is_initialized():
        if _env_int("WORLD_SIZE", 1) <= 1:
            return SINGLE
        cuda = torch.device(device).type == "cuda"
        backend = "nccl" if cuda and dist.is_nccl_available() else "gloo"
        if cuda:
            torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        dist.init_process_group(backend=backend, timeout=DEFAULT_TIMEOUT)
        if backend == "gloo":
            atexit.register(_destroy_own_group)
    world = dist.get_world_size()
    if world <= 1:
        return SINGLE
    return ProcessGroup(dist.get_rank(), world, _env_int("LOCAL_RANK", 0),
                        str(dist.get_backend()))


def _destroy_own_group():
    """Destroy the gloo group :func:`process_group` initialised, at the exit of the process
    (registered with ``atexit``), while the interpreter is still whole. Left to the
    interpreter's finalisation, gloo's worker threads can outlive the objects they hold and
    abort the process ("terminate called without an active exception", SIGABRT): one run of
    the CLI's two-process fit in CI ended so after a complete fit. A barrier comes first:
    a rank that destroyed its group while another was still writing the model aborted the
    same way (4 of 25 two-process CLI fits; 0 of 30 with the barrier), and torchrun then
    killed the rank still working. The barrier fails at once (and is passed over) when a
    process has died, whose socket is closed; destroying a gloo group is local to the process.
    nccl groups are left alone: their barrier could hang on a failed process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo":
        try:
            dist.barrier()
        except Exception:     # noqa: BLE001  (a process died: nothing left to wait for)
            pass
        dist.destroy_process_group()


def is_main_process():
    """True unless this is a process of rank > 0 under torchrun: the one that should write a
    fitted model or print results in a script run with ``torchrun``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _env_int("RANK", 0) == 0
