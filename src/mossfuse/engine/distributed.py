"""Run the tiles of a tiled fusion on a Dask cluster (local processes or remote machines).

:class:`DaskExecutor` plugs into :class:`mossfuse.engine.tiling.TiledFusion`. Each task is one
:class:`~mossfuse.engine.tiling.Tile` and carries everything it needs in its own arguments:
the method, the scene description (file paths, ratio, degradation) pickled once by the client
(a few kB; unpickled once per worker process and kept there) and the tile's windows. A worker
opens the input files itself and reads its windows; for an in-memory scene
(:class:`~mossfuse.engine.streaming.ArrayReader`) the client reads the tile's windows and sends
those, never the scene. Nothing is scattered, so no worker holds data that others depend on:
when a worker dies (killed, out of memory, its machine lost), the scheduler re-runs the tiles
it was running, or had finished but not yet handed back, on the other workers (and on the
replacement a local cluster's nanny starts), and the run completes with the same output as an
uninterrupted one (the blending does not depend on the order tiles arrive in). A task that
raises is retried ``retries`` times; a tile whose worker died
``distributed.scheduler.allowed-failures`` times (default 3) fails the run. The fused
``(B, th, tw)`` tile comes back to the client, which blends and writes it
(:class:`~mossfuse.engine.tiling.TileBlender`), so the output file is written by one process
only, to a temporary name renamed at the end: complete or absent. At most ``max_in_flight``
tiles are submitted at a time, which bounds what waits in worker memory.

Threads
-------
``--workers N`` starts a throw-away ``LocalCluster`` of ``N`` worker processes of one task at
a time each, and gives every task ``max(1, cores // N)`` intra-op threads (torch and the BLAS,
through ``OMP_NUM_THREADS`` & co. and ``torch.set_num_threads``), so ``N`` workers use the
machine's cores the way the serial run's intra-op threads do, in parallel tiles instead of
parallel loops. Measured in ``benchmarks/large_scene/scaling.md``.

Using an existing cluster
-------------------------
Start a scheduler and workers (one task per worker process, the BLAS and torch threads set by
the environment; the inputs readable at the same paths on every worker, e.g. a shared file
system; ``mossfuse`` installed in the same version); see ``docs/tiling.md`` for SSH and
``dask-jobqueue`` (SLURM/PBS) set-ups::

    dask scheduler --host 10.0.0.1 --port 8786
    OMP_NUM_THREADS=4 dask worker tcp://10.0.0.1:8786 --nworkers 4 --nthreads 1

then point the CLI or the library at it::

    mossfuse fuse --lr-hsi lr.tif --hr-msi hr.tif --out fused.tif --method gsa \\
        --tile-size 1024 --scheduler tcp://10.0.0.1:8786

    with dask_executor(scheduler="tcp://10.0.0.1:8786") as ex:
        fuse_tiled(get_method("gsa"), StreamedInputs.open("lr.tif", "hr.tif"),
                   tile=1024, writer=open_writer("fused.tif", ...), executor=ex)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mossfuse.engine.streaming import StreamedInputs
from mossfuse.engine.tiling import Tile, fuse_tile
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.base import FusionMethod
from mossfuse.physics.degradation import Degradation

__all__ = ["DaskExecutor", "dask_executor", "local_cores"]

#: Per worker process: run token -> (method, source, degradation), the last few runs only.
_SHARED: OrderedDict[str, tuple[FusionMethod, StreamedInputs | None, Degradation | None]] = (
    OrderedDict())
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def local_cores() -> int:
    """Cores this process may run on (its CPU affinity, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _shared(token: str, payload: bytes
            ) -> tuple[FusionMethod, StreamedInputs | None, Degradation | None]:
    got = _SHARED.get(token)
    if got is None:
        got = pickle.loads(payload)
        _SHARED[token] = got
        while len(_SHARED) > 4:
            _SHARED.popitem(last=False)
    return got


def _run_tile(token: str, payload: bytes, tile: Tile, inputs: Any = None,
              threads: int | None = None) -> np.ndarray:
    """Task body on a worker (module-level so it pickles by reference).

    ``payload`` pickles ``(method, source or None, degradation)``; ``inputs`` is the tile's
    ``FusionInputs`` when the client read them (in-memory scene), else the worker reads its
    windows from ``source``'s files. ``threads``: intra-op threads for this task.
    """
    if threads is not None:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    method, source, degradation = _shared(token, payload)
    if inputs is not None:
        return method.fuse(inputs).hr_hsi
    assert source is not None
    return fuse_tile(method, source, tile, degradation)


class DaskExecutor:
    """Runs tiles on the cluster behind a ``distributed.Client`` (see the module docstring).

    Args:
        client: a connected ``distributed.Client``.
        retries: times a tile that raised is re-run before the whole fusion fails.
        max_in_flight: tiles submitted at once (default twice the cluster's threads, >= 2).
        threads: intra-op threads each task sets (None: leave the worker's setting).
    """

    def __init__(self, client: Any, *, retries: int = 2, max_in_flight: int | None = None,
                 threads: int | None = None):
        if retries < 0:
            raise MossfuseInputError(f"retries must be >= 0; got {retries}")
        self.client, self.retries, self.max_in_flight = client, int(retries), max_in_flight
        self.threads = threads

    def _window(self) -> int:
        if self.max_in_flight is not None:
            return max(1, int(self.max_in_flight))
        threads = sum(self.client.nthreads().values()) or 1
        return max(2, 2 * threads)

    def map_tiles(self, method: FusionMethod, source: StreamedInputs, tiles: Sequence[Tile],
                  degradation: Degradation | None) -> Iterator[tuple[Tile, np.ndarray]]:
        """Submit the tiles and yield ``(tile, block)`` as they complete (any order).

        Raises the tile's exception once its retries are spent; pending tiles are cancelled.
        """
        from distributed import as_completed

        if not tiles:
            return
        client = self.client
        run = uuid.uuid4().hex[:8]
        file_backed = source.lr.file_backed and source.hr.file_backed
        payload = pickle.dumps((method, source if file_backed else None, degradation),
                               protocol=pickle.HIGHEST_PROTOCOL)
        token = f"{run}-{len(payload)}"
        live: dict[str, tuple[Tile, Any]] = {}
        todo = iter(tiles)

        def submit(tile: Tile) -> Any:
            inputs = None if file_backed else source.window(tile.lr_rows, tile.lr_cols,
                                                            degradation=degradation)
            fut = client.submit(_run_tile, token, payload, tile, inputs, self.threads,
                                retries=self.retries, pure=False,
                                key=f"mossfuse-tile-{run}-{tile.index}")
            live[fut.key] = (tile, fut)
            return fut

        window = self._window()
        first = [submit(t) for _, t in zip(range(window), todo, strict=False)]
        done = as_completed(first, with_results=True, raise_errors=True)
        try:
            for fut, block in done:
                tile, _ = live.pop(fut.key)
                nxt = next(todo, None)
                if nxt is not None:
                    done.add(submit(nxt))
                fut.release()
                yield tile, block
        finally:
            leftover = [f for _, f in live.values()]
            live.clear()
            with contextlib.suppress(Exception):
                client.cancel(leftover, force=True)


@contextlib.contextmanager
def _local_worker_environment(threads: int) -> Iterator[None]:
    """The environment a local cluster's worker processes start with, and the client's
    ``os.environ`` restored afterwards (a nanny copies its pre-spawn variables into the
    parent's environment before it spawns a worker).

    Dask's nannies set ``MALLOC_TRIM_THRESHOLD_=65536`` before spawning a worker (config
    ``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the OS. An
    explicit trim threshold also turns off glibc's dynamic mmap threshold, so every large
    allocation is a fresh ``mmap`` with zero-filled pages, and the fusion methods allocate
    tile-sized temporaries by the hundred: a SCALMU call costs more CPU time with it
    (``benchmarks/large_scene/malloc_policy.md``). Local workers therefore start with glibc's
    default policy (the variable unset, as in the serial process) and with the intra-op thread
    variables set before the interpreter starts.
    """
    import dask

    keys = ("MALLOC_TRIM_THRESHOLD_", *_THREAD_VARS, "PYTHONHASHSEED", "__DASK_PARENT_PID")
    saved = {k: os.environ.get(k) for k in keys}
    environ = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
               **{f"distributed.nanny.pre-spawn-environ.{v}": str(threads)
                  for v in _THREAD_VARS}}
    try:
        with dask.config.set(environ):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None, *,
                  retries: int = 2, max_in_flight: int | None = None,
                  **cluster_kwargs: Any) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a new local cluster or an existing scheduler; closed on exit.

    Args:
        workers: start ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
            host="127.0.0.1")`` (no dashboard) whose tasks use ``max(1, cores // workers)``
            intra-op threads each (module docstring, Threads).
        scheduler: address of an existing scheduler (``tcp://host:8786``); see the module
            docstring for starting one.
        retries, max_in_flight: :class:`DaskExecutor`.
        cluster_kwargs: more ``LocalCluster`` arguments.

    Exactly one of ``workers`` and ``scheduler`` must be given.
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise MossfuseInputError("give exactly one of workers= (local cluster) and scheduler=")
    with contextlib.ExitStack() as stack:
        if workers is not None:
            if int(workers) < 1:
                raise MossfuseInputError(f"workers must be >= 1; got {workers}")
            threads = max(1, local_cores() // int(workers))
            opts: dict[str, Any] = {"n_workers": int(workers), "threads_per_worker": 1,
                                    "processes": True, "host": "127.0.0.1",
                                    "dashboard_address": None,
                                    "env": {v: str(threads) for v in _THREAD_VARS}}
            opts.update(cluster_kwargs)
            stack.enter_context(_local_worker_environment(threads))
            cluster = stack.enter_context(LocalCluster(**opts))
            client = stack.enter_context(Client(cluster))
        else:
            threads = None
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise MossfuseInputError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}"
                ) from exc
        yield DaskExecutor(client, retries=retries, max_in_flight=max_in_flight,
                           threads=threads)
