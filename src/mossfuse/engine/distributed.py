"""Run the tiles of a tiled fusion on a Dask cluster (local processes or remote machines).

:class:`DaskExecutor` plugs into :class:`mossfuse.engine.tiling.TiledFusion`: the method and
the scene description (file paths, ratio, degradation: a few kB) are scattered once to every
worker; each task is one :class:`~mossfuse.engine.tiling.Tile` (a pair of windows). A worker
opens the input files itself, reads its windows, fuses and returns the ``(B, th, tw)`` tile to
the client, which blends and writes it (:class:`~mossfuse.engine.tiling.TileBlender`), so the
output file is written by one process only, to a temporary name renamed at the end: complete
or absent. A task that raises is retried ``retries`` times; tasks on a worker that dies are
rescheduled by Dask (``distributed.scheduler.allowed-failures``, default 3). At most
``max_in_flight`` tiles are submitted at a time, which bounds what waits in worker memory.

Using an existing cluster
-------------------------
Start a scheduler and workers (one thread per worker; the inputs must be readable at the same
paths on every worker, e.g. a shared file system, and ``mossfuse`` installed in the same
version)::

    dask scheduler --host 10.0.0.1 --port 8786
    dask worker tcp://10.0.0.1:8786 --nworkers 4 --nthreads 1     # on every machine

then point the CLI or the library at it::

    mossfuse fuse --lr-hsi lr.tif --hr-msi hr.tif --out fused.tif --method gsa \\
        --tile-size 1024 --scheduler tcp://10.0.0.1:8786

    with dask_executor(scheduler="tcp://10.0.0.1:8786") as ex:
        fuse_tiled(get_method("gsa"), StreamedInputs.open("lr.tif", "hr.tif"),
                   tile=1024, writer=open_writer("fused.tif", ...), executor=ex)

``--workers N`` instead starts a throw-away ``LocalCluster`` of ``N`` single-threaded worker
processes on 127.0.0.1 and closes it at the end. In-memory inputs
(:class:`~mossfuse.engine.streaming.ArrayReader`) work too but are copied to every worker.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mossfuse.engine.streaming import StreamedInputs
from mossfuse.engine.tiling import Tile, fuse_tile
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.base import FusionMethod

__all__ = ["DaskExecutor", "dask_executor"]


def _run_tile(method: FusionMethod, source: StreamedInputs, tile: Tile,
              overrides: dict[str, Any]) -> np.ndarray:
    """Task body on a worker (module-level so it pickles by reference)."""
    return fuse_tile(method, source, tile, overrides)


class DaskExecutor:
    """Runs tiles on the cluster behind a ``distributed.Client``.

    Args:
        client: a connected ``distributed.Client``.
        retries: times a failed tile is re-run before the whole fusion fails.
        max_in_flight: tiles submitted at once (default twice the cluster's threads, >= 2).
    """

    def __init__(self, client: Any, *, retries: int = 2, max_in_flight: int | None = None):
        if retries < 0:
            raise MossfuseInputError(f"retries must be >= 0; got {retries}")
        self.client, self.retries, self.max_in_flight = client, int(retries), max_in_flight

    def _window(self) -> int:
        if self.max_in_flight is not None:
            return max(1, int(self.max_in_flight))
        threads = sum(self.client.nthreads().values()) or 1
        return max(2, 2 * threads)

    def map_tiles(self, method: FusionMethod, source: StreamedInputs, tiles: Sequence[Tile],
                  overrides: dict[str, Any]) -> Iterator[tuple[Tile, np.ndarray]]:
        """Submit the tiles and yield ``(tile, block)`` as they complete (any order).

        Raises the tile's exception once its retries are spent; pending tiles are cancelled.
        """
        from distributed import as_completed

        if not tiles:
            return
        client = self.client
        run = uuid.uuid4().hex[:8]
        shared = client.scatter([method, source, overrides], broadcast=True, hash=False)
        m_f, s_f, o_f = shared
        live: dict[str, tuple[Tile, Any]] = {}
        todo = iter(tiles)

        def submit(tile: Tile) -> Any:
            fut = client.submit(_run_tile, m_f, s_f, tile, o_f, retries=self.retries,
                                pure=False, key=f"mossfuse-tile-{run}-{tile.index}")
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
                client.cancel(leftover + list(shared), force=True)


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None, *,
                  retries: int = 2, max_in_flight: int | None = None,
                  **cluster_kwargs: Any) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a new local cluster or an existing scheduler; closed on exit.

    Args:
        workers: start ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
            host="127.0.0.1")`` (no dashboard).
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
            opts: dict[str, Any] = {"n_workers": int(workers), "threads_per_worker": 1,
                                    "processes": True, "host": "127.0.0.1",
                                    "dashboard_address": None}
            opts.update(cluster_kwargs)
            cluster = stack.enter_context(LocalCluster(**opts))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise MossfuseInputError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}"
                ) from exc
        yield DaskExecutor(client, retries=retries, max_in_flight=max_in_flight)
