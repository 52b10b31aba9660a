"""Efficiency table (MossFuse paper, Table 2) for every registered method, on this CPU.

Per method, on one 512 x 512 x 31 scene at x32 (a CAVE scene under ``mossfuse-x32`` when a
root is given, else a seeded synthetic dead-leaves scene of the same size):

- **parameters**: learned weights on the inference path (MossFuse: E_Y, E_x and D_X, via
  :func:`~mossfuse.methods.mossfuse.network.count_parameters`; the total with the training-only
  decoders and the degradation module is listed too); 0 for the classical methods;
- **FLOPs**: counted by :class:`torch.utils.flop_counter.FlopCounterMode` during one
  ``fuse`` call (MossFuse: the fused inference path that ``fuse`` runs; the count covers
  matrix products, convolutions and attention, not element-wise ops). The classical methods run
  partly in numpy/scipy, which no torch counter sees: their count is of the torch operations
  only, a **lower bound**, and marked so;
- **inference time**: median wall time of ``repeats`` ``fuse`` calls after one warm-up call,
  and their median CPU time (the process's, all threads: on a machine shared with other jobs
  the CPU time of a one-thread run is its cost, the wall time also counts the waiting);
- **peak memory**: largest rise of the process's resident memory during a call
  (:class:`mossfuse.bench.memory.PeakMemory`);
- **training time**: from a training summary or log when given (``name=PATH``: a
  ``summary.json`` with ``seconds``, or a ``train_log.jsonl``), else ``-``; the classical
  methods need none.

Output: ``efficiency.md``, ``efficiency.csv``, ``efficiency.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mossfuse.analyses._common import (
    default_weights,
    fmt,
    machine_line,
    md_table,
    write_csv,
    write_json,
    write_text,
)
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError


def make_inputs(root: str | Path | None, scene: str = "face", size: int = 512,
                protocol: str = "mossfuse-x32", blind: bool = False, seed: int = 0
                ) -> tuple[FusionInputs, str]:
    """The pair every method fuses: ``(inputs, description)``. A CAVE scene (cropped to
    ``size``) when ``root`` is given, else a synthetic dead-leaves scene of ``size``."""
    from mossfuse.data.scene import Scene
    from mossfuse.physics import get_protocol

    proto = get_protocol(protocol)
    if root is not None:
        from mossfuse.data.cave import CaveDataset

        ref = CaveDataset(root).load(scene)
        cube = ref.cube[:, :size, :size]
        name = f"CAVE `{scene}`"
    else:
        from mossfuse.data.dead_leaves import DeadLeavesConfig, generate_dead_leaves

        ref = generate_dead_leaves(DeadLeavesConfig(size=(size, size), seed=seed))
        cube = ref.cube
        name = f"synthetic dead-leaves scene (seed {seed})"
    ref = Scene(np.ascontiguousarray(cube), ref.wavelengths_nm, getattr(ref, "name", "scene"))
    case = proto.simulate(ref)
    inputs = case.inputs.blind() if blind else case.inputs
    b, h, w = case.reference.cube.shape
    desc = (f"{name}, {h} x {w} x {b}, `{protocol}` (x{proto.ratio}), "
            f"{'blind' if blind else 'known PSF/SRF given'}")
    return inputs, desc


def parameter_counts(method: Any) -> dict[str, int]:
    """``{"inference": n, "total": n}`` learned parameters (0 for a method without a network)."""
    net = getattr(method, "net", None)
    if not isinstance(net, torch.nn.Module):  # e.g. SCALMU keeps its (lazily loaded) net here
        net = getattr(method, "_net", None)
    if not isinstance(net, torch.nn.Module):
        return {"inference": 0, "total": 0}
    from mossfuse.methods.mossfuse.network import MossFuseNet, count_parameters

    if isinstance(net, MossFuseNet):
        c = count_parameters(net, getattr(method, "degradation", None))
        return {"inference": c.inference, "total": c.total}
    n = sum(p.numel() for p in net.parameters())
    return {"inference": n, "total": n}


def count_flops(fn: Any) -> int:
    """FLOPs of the torch operations ``fn()`` runs (:class:`FlopCounterMode`)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def time_and_memory(fn: Any, repeats: int) -> dict[str, float]:
    """One warm-up call, then ``repeats`` timed calls: median/min wall seconds, median CPU
    seconds of the process (``time.process_time``: with one torch thread, the compute time
    whatever else the machine runs) and the largest resident-memory rise (MB)."""
    from mossfuse.bench.memory import PeakMemory

    fn()
    times, cpu, peaks = [], [], []
    for _ in range(repeats):
        with PeakMemory() as mem:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        peaks.append(mem.delta_bytes / 2**20)
    return {"seconds_median": float(statistics.median(times)), "seconds_min": min(times),
            "cpu_seconds_median": float(statistics.median(cpu)),
            "seconds_all": times, "peak_memory_mb": float(max(peaks))}


def training_seconds(path: str | Path) -> dict[str, Any]:
    """Training time from a run's ``summary.json`` (``seconds``, ``steps``), a checkpoint JSON
    holding a ``training_summary`` (``model.json``), or the last record of a
    ``train_log.jsonl``."""
    p = Path(path)
    if not p.exists():
        raise MossfuseInputError("training summary/log not found", p)
    if p.suffix == ".jsonl":
        lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
        if not lines:
            raise MossfuseInputError("empty training log", p)
        last = json.loads(lines[-1])
        return {"seconds": float(last["seconds"]), "steps": last.get("step"), "source": str(p)}
    doc = json.loads(p.read_text())
    if "seconds" not in doc and "training_summary" in doc:  # a run's model.json
        doc = doc["training_summary"]
    if "seconds" not in doc:
        raise MossfuseInputError("no 'seconds' in the training summary", p)
    return {"seconds": float(doc["seconds"]), "steps": doc.get("steps"), "source": str(p)}


def measure_method(name: str, inputs: FusionInputs, *, weights: str | None = None,
                   repeats: int = 3, flops: bool = True) -> dict[str, Any]:
    """Parameters, FLOPs, time and memory of one registered method on ``inputs``."""
    import warnings

    from mossfuse.methods import get_method, load_method
    from mossfuse.methods.base import TrainableMethod

    learned = isinstance(get_method(name), TrainableMethod)
    if learned and weights is None:
        weights = default_weights(name)
    method = load_method(name, None, weights)
    row: dict[str, Any] = {"method": name, "learned": learned, "weights": weights}

    def call() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # untrained-weights warning
            method.fuse(inputs)

    if flops:
        row["flops"] = count_flops(call)
        row["flops_scope"] = ("all torch ops of fuse (inference path)" if learned else
                              "torch ops only: lower bound (numpy/scipy parts not counted)")
    row.update(time_and_memory(call, repeats))
    # after the calls: a method may load its network lazily on the first fuse
    row.update({f"params_{k}": v for k, v in parameter_counts(method).items()})
    return row


def mossfuse_training_form_flops(method: Any, inputs: FusionInputs) -> int:
    """FLOPs of MossFuse's training-form inference (``net.fuse_forward``: E_Y, E_x, D_X,
    unfused), for comparison with the fused inference path."""
    net = method.net
    net.eval()
    hr = torch.from_numpy(np.ascontiguousarray(inputs.hr_msi))[None]
    lr = torch.from_numpy(np.ascontiguousarray(inputs.lr_hsi))[None]

    def run() -> None:
        with torch.inference_mode():
            net.fuse_forward(hr, lr)

    return count_flops(run)


def run_efficiency(out: str | Path, *, root: str | Path | None = None, scene: str = "face",
                   size: int = 512, protocol: str = "mossfuse-x32",
                   methods: list[str] | None = None, weights: dict[str, str] | None = None,
                   training: dict[str, str] | None = None, repeats: int = 3,
                   threads: int | None = 1, blind: bool = False, command: str = "",
                   progress: bool = True) -> dict[str, Any]:
    """Measure every registered method (or ``methods``) and write the table under ``out``."""
    from mossfuse.methods import available_methods, load_method

    out = Path(out)
    weights = dict(weights or {})
    training = dict(training or {})
    names = methods or available_methods()
    unknown = [m for m in names if m not in available_methods()]
    if unknown:
        raise MossfuseInputError(f"unknown methods {unknown}; available: {available_methods()}")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        inputs, desc = make_inputs(root, scene, size, protocol, blind)
        rows = []
        for name in names:
            if progress:
                print(f"efficiency: {name} ...", flush=True)
            row = measure_method(name, inputs, weights=weights.get(name), repeats=repeats)
            if name in training:
                t = training_seconds(training[name])
                row["training_minutes"] = t["seconds"] / 60
                row["training_steps"] = t["steps"]
                row["training_source"] = t["source"]
            elif not row["learned"]:
                row["training_minutes"] = 0.0
            if name == "mossfuse":
                m = load_method(name, None, row["weights"])
                row["flops_training_form"] = mossfuse_training_form_flops(m, inputs)
            rows.append(row)
            if progress:
                print(f"  {row['seconds_median']:.2f} s, {row['peak_memory_mb']:.0f} MB, "
                      f"{row.get('flops', 0) / 1e9:.2f} GFLOPs", flush=True)
    finally:
        torch.set_num_threads(old_threads)
    doc = {"inputs": desc, "repeats": repeats, "threads": threads, "machine": machine_line(),
           "command": command, "rows": rows}
    write_csv(out / "efficiency.csv", [{k: v for k, v in r.items() if k != "seconds_all"}
                                       for r in rows])
    write_json(out / "efficiency.json", doc)
    write_text(out / "efficiency.md", markdown_report(doc))
    return doc


def markdown_report(doc: dict[str, Any]) -> str:
    """``efficiency.md``: the table and how each column was measured."""
    rows = doc["rows"]
    lines = [
        "# Efficiency (paper Table 2), this CPU", "",
        f"- Command: `{doc.get('command') or '(library call)'}`",
        f"- Inputs: {doc['inputs']}",
        f"- Machine: {doc['machine']}; torch threads during the measurements: "
        f"{doc['threads']}",
        f"- Inference time: median of {doc['repeats']} `fuse` calls after one warm-up, as CPU "
        "time of the process (`time.process_time`; with one torch thread this is the "
        "compute cost even on a busy machine) and as wall time (which also counts waiting for "
        "the CPU when other jobs run); peak memory: largest rise of the resident set during a "
        "call (`bench/memory.py`).",
        "- FLOPs: `torch.utils.flop_counter.FlopCounterMode` over one `fuse` call (matmul, "
        "conv, attention; element-wise ops are not counted). For the classical methods, "
        "which run partly in numpy/scipy, it sees only their torch operations: a lower bound "
        "(marked >=).",
        "- Parameters: learned weights on the inference path (total incl. training-only "
        "decoders and the degradation module in brackets); training time from the given "
        "training summary, 0 for methods without training, '-' when not given.", "",
    ]
    table = []
    for r in rows:
        flops = r.get("flops")
        gf = None if flops is None else flops / 1e9
        gf_s = "-" if gf is None else (f"{gf:.2f}" if r["learned"] else f">= {gf:.2f}")
        params = (f"{r['params_inference'] / 1e6:.3f} ({r['params_total'] / 1e6:.3f})"
                  if r["params_total"] else "0")
        tm = r.get("training_minutes")
        tm_s = "-" if tm is None else f"{tm:.1f}" + (
            f" ({r['training_steps']} steps)" if r.get("training_steps") else "")
        table.append([r["method"], gf_s, params, tm_s, f"{r['cpu_seconds_median']:.3f}",
                      f"{r['seconds_median']:.3f}", f"{r['peak_memory_mb']:.0f}", 1])
    lines += md_table(["method", "FLOPs (G)", "Params (M)", "Training time (min)",
                       "Test time, CPU (s)", "Test time, wall (s)", "Peak memory (MB)",
                       "Test iterations"], table)
    notes = [r for r in rows if r.get("flops_training_form")]
    if notes or any(r.get("training_source") for r in rows):
        lines.append("")
    for r in notes:
        lines.append(f"- {r['method']}: the training-form inference (`fuse_forward`, unfused "
                     f"E_Y, E_x, D_X) counts {r['flops_training_form'] / 1e9:.2f} GFLOPs; "
                     f"the fused path that `fuse` runs counts {fmt(r['flops'] / 1e9)} G.")
    for r in rows:
        if r.get("training_source"):
            lines.append(f"- {r['method']}: training time from `{r['training_source']}`.")
        if r.get("weights"):
            lines.append(f"- {r['method']}: weights `{r['weights']}`.")
    lines.append("")
    return "\n".join(lines)


__all__ = ["count_flops", "make_inputs", "measure_method", "parameter_counts",
           "run_efficiency", "time_and_memory", "training_seconds"]
