"""Fused, streamed, channels-last inference path of MossFuse (E_Y, E_x and D_X only).

Built from a :class:`~mossfuse.methods.mossfuse.network.MossFuseNet` (a snapshot of its weights,
BatchNorm in eval mode) by :meth:`FusedMossFuse.from_network`. It computes what
``net.eval().fuse_forward`` computes (tested to float32 rounding), faster and in less memory.

Why it is faster (measured on the 2-core AMD EPYC CPU of this project; see the report):

- **No page faults.** glibc serves every allocation above 32 MB with a fresh ``mmap``, so a
  full-image ``(512, 512, 192)`` float32 intermediate costs ~1.5 us per 4 kB page to fault in and
  zero: with ~13 GB of such intermediates per forward pass that alone was most of the time. Here
  each block runs over **row chunks** (``chunk_bytes``, default 8 MB per widest temporary), so
  temporaries come from the reused malloc heap; the few full-size tensors (features, ``v``, the
  LK hidden layer) live in a persistent workspace reused across blocks and calls.
- One image at a time, features ``(H, W, C)`` contiguous (channels-last): a 1x1 conv is one GEMM
  over the chunk's pixels and residual additions are fused into it (``addmm_`` in place);
  depthwise / 3 x 3 convs see channels-last inputs (oneDNN's fast kernels, ~3x NCHW here). A
  chunk is computed from its rows plus a halo of ``p`` rows (the vertical receptive radius), with
  zero padding only at the image border, so results are exact.
- LK-CNN: the DRB branches and both BatchNorms merged into one 7 x 7 depthwise conv with bias;
  the output BatchNorm, layer scale, GRN bias, SE scale and GRN response folded into the two
  pointwise weight matrices (per image).
- Spectral-wise attention: the per-head gram ``q k^T`` (over the pixels) and the channel norms
  are accumulated chunk by chunk; normalisation is applied to the ``(C/h) x (C/h)`` gram (never
  to ``(C, H W)`` tensors); ``attn @ v`` and the output projection are one ``C x C`` matrix on
  ``v``; the aggregation blocks' gates on the attention output use ``mean(out) = A mean(v)``
  and ``W1 out = (W1 A) v``, so the attention output is never formed.
- C-wide channel groups: q, k, v and the FFN's hidden layer are computed as separate
  C-channel GEMM + depthwise pairs (oneDNN's depthwise cost grows faster than linearly with
  the channel count, and GELU on a strided channel slice is 4-10x slower than on a
  contiguous tensor).
- No decoder but D_X runs.
- Chunks run on ``workers`` threads with single-threaded torch ops (no OpenMP fork/join per
  op, which collapses when another process takes one of the two cores).

Global statistics (attention grams, SE/CA pooling, GRN norms) need the whole image, so a block
makes two or three passes over its chunks; the in-place FFN copies each chunk's halo rows
before any chunk writes.

Known limits: the first call at a new image size pays oneDNN kernel generation (~0.5-2 s);
``bfloat16`` is ~2x faster here (AVX512-BF16) but rounds the residual stream to 8 bits of
mantissa: validate its PSNR against float32 with trained weights before using it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from mossfuse.methods.mossfuse.blocks import (
    GRN_EPS,
    LN_EPS,
    NORMALIZE_EPS,
    SWT,
    AggregationBlock,
    GatedFFN,
    LKBlock,
    OutputHead,
    fuse_bn,
)

Tensor = torch.Tensor


# ----------------------------------------------------------------------------------------------
# helpers


def _mat(conv: nn.Conv2d) -> Tensor:
    """1x1 conv weight ``(out, in, 1, 1)`` -> ``(out, in)``."""
    return conv.weight.detach()[:, :, 0, 0]


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, groups: int = 1) -> Tensor:
    """'Same' conv (zero padding) of a channels-last image ``(R, W, C_in) -> (R, W, C_out)``.

    ``unsqueeze`` before ``permute`` so the batch stride is ``R W C``: only then does torch
    recognise the channels-last layout and pick oneDNN's channels-last kernels (and return a
    channels-last result, so the final permute is a free view).
    """
    p = weight.shape[-1] // 2
    y = F.conv2d(x.unsqueeze(0).permute(0, 3, 1, 2), weight, bias, padding=p, groups=groups)
    y = y[0].permute(1, 2, 0)
    return y if y.is_contiguous() else y.contiguous()


def _flat(x: Tensor) -> Tensor:
    """``(R, W, C)`` -> ``(R W, C)`` view (also for channel slices of a wider tensor)."""
    return x.reshape(-1, x.shape[-1])


def _colsum(x: Tensor, ones: Tensor | None = None) -> Tensor:
    """Column sums of ``(n, C)`` as float32 ``(C,)``, by a ``ones (1, n)`` GEMM: for bfloat16
    torch's dim-0 reduction with float32 accumulation is ~3x slower than this."""
    if ones is None or ones.shape[1] != x.shape[0] or ones.dtype != x.dtype:
        ones = x.new_ones(1, x.shape[0])
    return (ones @ x)[0].float()


def _add_bias_(x: Tensor, bias: Tensor) -> Tensor:
    """``x (n, C) += bias (C,)`` in place. A row of C = 48 bfloat16 values is 1.5 SIMD vectors,
    so the plain broadcast runs a scalar tail per row (~6x slower); viewing rows of 384
    (a multiple of both) avoids it."""
    c = x.shape[-1]
    k = 384 // c if 384 % c == 0 else 0
    if k > 1 and x.is_contiguous() and x.numel() % 384 == 0:
        return x.view(-1, 384).add_(bias.repeat(k))
    return x.add_(bias)


class Streamer:
    """Row chunking, the chunk workers and the persistent workspace of a :class:`FusedMossFuse`.

    Args:
        chunk_bytes: target size of the widest per-chunk temporary (rows are chosen so that
            ``rows * W * widest_channels * itemsize <= chunk_bytes``, at least 4 rows).
        workers: threads that process chunks concurrently (each runs single-threaded torch
            ops; :class:`FusedMossFuse` sets torch's intra-op threads to 1 meanwhile). Chunks of
            one phase are independent, so no OpenMP fork/join per op: on a shared 2-core
            machine OpenMP's barriers collapse when another process takes a core, chunk
            workers just slow down.
    """

    def __init__(self, chunk_bytes: int = 8 << 20, workers: int = 1):
        self.chunk_bytes = int(chunk_bytes)
        self.workers = max(1, int(workers))
        self.rows = 16
        self._ws: dict[str, Tensor] = {}
        self._pool: ThreadPoolExecutor | None = None

    def configure(self, width: int, widest: int, itemsize: int) -> None:
        self.rows = max(4, self.chunk_bytes // max(1, width * widest * itemsize))

    def chunks(self, height: int) -> list[tuple[int, int]]:
        return [(r0, min(height, r0 + self.rows)) for r0 in range(0, height, self.rows)]

    def run(self, height: int, fn: Callable[[int, int], Any]) -> list[Any]:
        """``[fn(r0, r1) for each chunk]``, on the workers; results in chunk order."""
        chunks = self.chunks(height)
        if self.workers == 1 or len(chunks) == 1:
            return [fn(r0, r1) for r0, r1 in chunks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mossfuse")
        # inference / grad mode are thread-local: carry the caller's into the workers
        inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

        def call(rr: tuple[int, int]) -> Any:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return fn(*rr)

        return list(self._pool.map(call, chunks))

    def total(self, height: int, fn: Callable[[int, int], Any]) -> Any:
        """Sum of ``fn`` over the chunks (tensors or tuples of tensors), in chunk order."""
        parts = self.run(height, fn)
        if isinstance(parts[0], tuple):
            return tuple(sum(p[i] for p in parts) for i in range(len(parts[0])))
        return sum(parts)

    def buffer(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A persistent ``torch.empty`` buffer (reused while shape/dtype match)."""
        b = self._ws.get(name)
        if b is None or b.shape != torch.Size(shape) or b.dtype != like.dtype:
            b = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._ws[name] = b
        return b

    def release(self) -> None:
        """Free the workspace and stop the workers."""
        self._ws.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _halo(r0: int, r1: int, p: int, height: int) -> tuple[int, int, int]:
    """Rows ``[a, b)`` to read for output rows ``[r0, r1)`` with receptive radius ``p``, and the
    offset ``r0 - a`` of the first output row inside them."""
    a, b = max(0, r0 - p), min(height, r1 + p)
    return a, b, r0 - a


class _Fused(nn.Module):
    """Base: weights are buffers (a snapshot), cast together with ``.to(dtype)``."""

    def _buf(self, name: str, t: Tensor) -> None:
        self.register_buffer(name, t.detach().clone().contiguous())


def attention_matrix(
    gram: Tensor, nq2: Tensor, nk2: Tensor, temperature: Tensor, heads: int,
    q_scale: Tensor | None = None,
) -> Tensor:
    """Block-diagonal spectral-wise attention ``(C, C)`` (float32).

    Args:
        gram: ``q^T k`` over the pixels ``(C, C)``; nq2, nk2: squared channel norms ``(C,)``.
        temperature: ``(heads, 1, 1)``.
        q_scale: positive per-channel factor multiplying ``q`` before normalisation, or None.

    Per head ``softmax(t * diag(s) G / (max(s |q|, eps) max(|k|, eps)^T))``: exactly
    ``F.normalize`` (eps 1e-12) then matmul, applied to the small gram.
    """
    nq = nq2.clamp(min=0).sqrt()
    nk = nk2.clamp(min=0).sqrt()
    if q_scale is not None:
        gram = gram * q_scale[:, None]
        nq = nq * q_scale
    logits = gram / (nq.clamp(min=NORMALIZE_EPS)[:, None] * nk.clamp(min=NORMALIZE_EPS)[None, :])
    c = gram.shape[0]
    d = c // heads
    out = torch.zeros(c, c, dtype=torch.float32, device=gram.device)
    t = temperature.float().reshape(-1)
    for i in range(heads):
        sl = slice(i * d, (i + 1) * d)
        out[sl, sl] = (logits[sl, sl] * t[i]).softmax(dim=-1)
    return out


# ----------------------------------------------------------------------------------------------
# fused blocks (all forward methods overwrite their input feature ``x`` in place)


def _groups(w: Tensor, size: int) -> list[Tensor]:
    """Split output rows of a weight into groups of ``size`` (one group if not divisible)."""
    return list(w.split(size)) if w.shape[0] % size == 0 else [w]


def _lin_dw(x: Tensor, w: Tensor, dw: Tensor) -> Tensor:
    """``dw3x3(x @ w^T)`` on a channels-last chunk (one channel group)."""
    return _conv(F.linear(x, w), dw, groups=dw.shape[0])


class _QKVMixin(_Fused):
    """LayerNorm + 1x1 C->3C + depthwise 3x3 on row chunks with a halo of 1.

    q, k and v are computed as three separate GEMM + depthwise pairs: each result is then a
    contiguous channels-last tensor (a strided channel slice makes GELU/conv 4-10x slower),
    and oneDNN's depthwise conv costs grow faster than linearly with the channel count here
    (48 ch: 1.2 ms, 144 ch: 4.7 ms per 44 x 512 chunk in float32).
    """

    def _init_qkv(self, norm: nn.Module, qkv: nn.Module) -> None:
        self._buf("ln_w", norm.weight)
        self._buf("ln_b", norm.bias)
        w, dw = _mat(qkv.qkv), qkv.qkv_dwconv.weight
        c = w.shape[1]
        for i, name in enumerate("qkv"):
            self._buf(f"w_{name}", w[i * c : (i + 1) * c])
            self._buf(f"dw_{name}", dw[i * c : (i + 1) * c])

    def _qkv_rows(self, x: Tensor, r0: int, r1: int) -> tuple[Tensor, Tensor, Tensor]:
        """``q, k, v`` of rows ``[r0, r1)``: each ``(r1 - r0, W, C)`` contiguous."""
        a, b, off = _halo(r0, r1, 1, x.shape[0])
        n = F.layer_norm(x[a:b], (x.shape[-1],), self.ln_w, self.ln_b, LN_EPS)
        return tuple(
            _lin_dw(n, getattr(self, f"w_{k}"), getattr(self, f"dw_{k}"))[off : off + r1 - r0]
            for k in "qkv"
        )


class FusedFFN(_Fused):
    """LayerNorm + gated FFN as an in-place residual on row chunks.

    The 1x1 C -> 2h conv and its depthwise conv run in groups of C channels (see
    :class:`_QKVMixin`); ``GELU(a) * b`` runs group-wise in place, and the output 1x1 conv is
    a sum of per-group GEMMs added into ``x``.
    """

    def __init__(self, norm: nn.Module, ffn: GatedFFN):
        super().__init__()
        self._buf("ln_w", norm.weight)
        self._buf("ln_b", norm.bias)
        w_in, dw, w_out = _mat(ffn.project_in), ffn.dwconv.weight, _mat(ffn.project_out)
        c, hidden = w_in.shape[1], w_out.shape[1]
        size = c if hidden % c == 0 else hidden
        self.n_groups = hidden // size
        for i in range(self.n_groups):
            ga = slice(i * size, (i + 1) * size)
            gb = slice(hidden + i * size, hidden + (i + 1) * size)
            self._buf(f"wa{i}", w_in[ga])
            self._buf(f"dwa{i}", dw[ga])
            self._buf(f"wb{i}", w_in[gb])
            self._buf(f"dwb{i}", dw[gb])
            self._buf(f"wo{i}", w_out[:, ga].T)  # (size, C), for addmm_(g, wo)

    def forward(self, x: Tensor, st: Streamer) -> Tensor:
        """``x += FFN(LN(x))`` in place; ``(H, W, C)``.

        A chunk writes its own rows but reads one row of each neighbour (the 3 x 3 halo), so
        those halo rows are copied before any chunk runs.
        """
        height, c = x.shape[0], x.shape[-1]
        chunks = st.chunks(height)
        above = {r0: x[r0 - 1].clone() for r0, _ in chunks if r0 > 0}
        below = {r1: x[r1].clone() for _, r1 in chunks if r1 < height}

        def work(r0: int, r1: int) -> None:
            parts = [above[r0][None]] if r0 > 0 else []
            parts.append(x[r0:r1])
            if r1 < height:
                parts.append(below[r1][None])
            src = torch.cat(parts) if len(parts) > 1 else x[r0:r1]
            n = F.layer_norm(src, (c,), self.ln_w, self.ln_b, LN_EPS)
            off, rows = int(r0 > 0), r1 - r0
            xc = _flat(x[r0:r1])
            for i in range(self.n_groups):
                ga = _lin_dw(n, getattr(self, f"wa{i}"), getattr(self, f"dwa{i}"))
                gb = _lin_dw(n, getattr(self, f"wb{i}"), getattr(self, f"dwb{i}"))
                ga = torch.ops.aten.gelu_(ga[off : off + rows])
                ga.mul_(gb[off : off + rows])
                del gb
                xc.addmm_(_flat(ga), getattr(self, f"wo{i}"))

        st.run(height, work)
        return x


class FusedSWT(_QKVMixin):
    """Fused :class:`~.blocks.SWT`."""

    def __init__(self, block: SWT):
        super().__init__()
        self.heads = block.attn.heads
        self._init_qkv(block.norm1, block.attn.qkv)
        self._buf("temperature", block.attn.temperature)
        self._buf("proj", _mat(block.attn.project_out))
        self.ffn = FusedFFN(block.norm2, block.ffn)

    def forward(self, x: Tensor, st: Streamer) -> Tensor:
        """``(H, W, C) -> (H, W, C)``, in place."""
        height = x.shape[0]
        v = st.buffer("v", x.shape, x)

        def stats(r0: int, r1: int) -> tuple[Tensor, Tensor, Tensor]:
            q, k, vc = self._qkv_rows(x, r0, r1)
            v[r0:r1] = vc
            q, k = _flat(q), _flat(k)
            return (q.T @ k).float(), _colsum(q.square()), _colsum(k.square())

        gram, nq2, nk2 = st.total(height, stats)
        a = attention_matrix(gram, nq2, nk2, self.temperature, self.heads)
        m = (self.proj.float() @ a).to(x.dtype).T  # proj(attn @ v) = (P A) v

        def residual(r0: int, r1: int) -> None:
            _flat(x[r0:r1]).addmm_(_flat(v[r0:r1]), m)

        st.run(height, residual)
        return self.ffn(x, st)


class FusedLK(_Fused):
    """Fused :class:`~.blocks.LKBlock` (eval-mode BatchNorm)."""

    def __init__(self, block: LKBlock):
        super().__init__()
        with torch.no_grad():
            self.has_dw = bool(block.kernel)
            if self.has_dw:
                w, b = block.dwconv.merged()
                norm = block.norm
                t_norm = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                w, b_norm = fuse_bn(w, norm)  # the BN after the DRB scales the merged conv
                self._buf("dw", w)
                self._buf("dw_bias", b * t_norm + b_norm)
            self._buf("se_down", _mat(block.se.down))
            self._buf("se_down_b", block.se.down.bias)
            self._buf("se_up", _mat(block.se.up))
            self._buf("se_up_b", block.se.up.bias)
            self._buf("w1", block.pwconv1.weight)
            self._buf("b1", block.pwconv1.bias)
            self._buf("grn_gamma", block.grn.gamma)
            # x + gamma * BN(W2 (r * h + beta)) = x + (diag(gamma t) W2 diag(r)) h + b_out
            bn = block.out_bn
            t = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            self._buf("w2", (block.gamma * t)[:, None] * block.pwconv2.weight)
            self._buf("b_out", block.gamma * (
                t * (block.pwconv2.weight @ block.grn.beta - bn.running_mean) + bn.bias))

    def forward(self, x: Tensor, st: Streamer) -> Tensor:
        """``(H, W, C) -> (H, W, C)``, in place."""
        height, c = x.shape[0], x.shape[-1]
        if self.has_dw:
            y = st.buffer("y", x.shape, x)
            p = self.dw.shape[-1] // 2

            def conv(r0: int, r1: int) -> Tensor:
                a, b, off = _halo(r0, r1, p, height)
                y[r0:r1] = _conv(x[a:b], self.dw, self.dw_bias, groups=c)[off : off + r1 - r0]
                return _colsum(_flat(y[r0:r1]))

            pooled = st.total(height, conv)
        else:
            y = x
            pooled = st.total(height, lambda r0, r1: _colsum(_flat(x[r0:r1])))
        pooled = pooled / (y.shape[0] * y.shape[1])
        se = torch.sigmoid(F.linear(
            F.relu(F.linear(pooled, self.se_down.float(), self.se_down_b.float())),
            self.se_up.float(), self.se_up_b.float()))
        w1 = (self.w1.float() * se[None, :]).to(x.dtype).T  # W1 (se * y)
        hidden = self.w1.shape[0]
        h = st.buffer("h", (*x.shape[:-1], hidden), x)

        def expand(r0: int, r1: int) -> Tensor:
            hc = _flat(h[r0:r1])
            torch.addmm(self.b1, _flat(y[r0:r1]), w1, out=hc)
            torch.ops.aten.gelu_(hc)
            return _colsum(hc.square())

        g = st.total(height, expand).sqrt()
        r = self.grn_gamma.float() * (g / (g.mean() + GRN_EPS)) + 1
        w2 = (self.w2.float() * r[None, :]).to(x.dtype).T

        def project(r0: int, r1: int) -> None:
            xc = _flat(x[r0:r1])
            xc.addmm_(_flat(h[r0:r1]), w2)
            _add_bias_(xc, self.b_out)

        st.run(height, project)
        return x


class FusedAggregation(_QKVMixin):
    """Fused :class:`~.blocks.AggregationBlock`; ``forward(x, y)`` overwrites ``x``."""

    def __init__(self, block: AggregationBlock):
        super().__init__()
        a = block.attn
        self.kind = a.kind
        self.heads = a.heads
        self._init_qkv(block.norm1, a.qkv)
        self._buf("temperature", a.temperature)
        self._buf("proj", _mat(a.project_out))
        sg, cg = a.spatial_gate, a.channel_gate
        self._buf("sa1", _mat(sg.conv1))
        self._buf("sa2", _mat(sg.conv2))
        self._buf("sa3", _mat(sg.conv3))
        self._buf("ca1", cg.fc1.weight)
        self._buf("ca2", cg.fc2.weight)
        self._buf("ca3", cg.fc3.weight)
        if self.kind == "spatial":
            self._buf("y_dw", a.y_conv.weight)
        else:
            self._buf("y_pw", _mat(a.y_conv))
        self.ffn = FusedFFN(block.norm2, block.ffn)

    def _channel_gate(self, pooled: Tensor) -> Tensor:
        """CA on pooled ``(C,)`` float32 features -> ``(C,)`` float32."""
        h = F.gelu(F.linear(pooled, self.ca1.float()))
        return torch.sigmoid(F.linear(F.gelu(F.linear(h, self.ca2.float())), self.ca3.float()))

    def _spatial_tail(self, h1: Tensor) -> Tensor:
        """SA after its first 1x1 conv: ``(R, W, g) -> (R, W, 1)``."""
        return torch.sigmoid(F.linear(F.relu(F.linear(F.relu(h1), self.sa2)), self.sa3))

    def forward(self, x: Tensor, y: Tensor, st: Streamer) -> Tensor:
        """``x`` shared ``(H, W, C)`` (overwritten with the result), ``y`` complementary."""
        height, c = x.shape[0], x.shape[-1]
        n_pix = x.shape[0] * x.shape[1]
        v = st.buffer("v", x.shape, x)
        spatial = self.kind == "spatial"

        def stats(r0: int, r1: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            q, k, vc = self._qkv_rows(x, r0, r1)
            if spatial:  # q <- q * SA(y) (before the normalisation, as released)
                q.mul_(self._spatial_tail(F.linear(y[r0:r1], self.sa1)))
            q, k = _flat(q), _flat(k)
            v[r0:r1] = vc
            # column sums of v (spatial: mean(out) = A mean(v)) or of y (spectral: CA(y))
            s = _colsum(_flat(vc)) if spatial else _colsum(_flat(y[r0:r1]))
            return (q.T @ k).float(), _colsum(q.square()), _colsum(k.square()), s

        gram, nq2, nk2, col = st.total(height, stats)
        proj = self.proj.float()
        if spatial:
            a = attention_matrix(gram, nq2, nk2, self.temperature, self.heads)
            w = self._channel_gate(a @ (col / n_pix))  # CA(out)
            m_v = (proj @ a).to(x.dtype).T  # x += (P A) v + (P diag(w)) dw3x3(y)
            m_y = (proj * w[None, :]).to(x.dtype).T

            def residual(r0: int, r1: int) -> None:
                a0, b0, off = _halo(r0, r1, 1, height)
                yd = _conv(y[a0:b0], self.y_dw, groups=c)[off : off + r1 - r0]
                xc = _flat(x[r0:r1])
                xc.addmm_(_flat(v[r0:r1]), m_v)
                xc.addmm_(_flat(yd), m_y)
        else:
            w = self._channel_gate(col / n_pix)  # CA(y) scales q: only the norms see it
            a = attention_matrix(gram, nq2, nk2, self.temperature, self.heads, q_scale=w)
            # x += (P A) v + SA(out) * (P D) y, with W1 out = (W1 A) v inside SA
            m_v = (proj @ a).to(x.dtype).T
            w_sa = (self.sa1.float() @ a).to(x.dtype)
            m_y = (proj @ self.y_pw.float()).to(x.dtype)

            def residual(r0: int, r1: int) -> None:
                vc = v[r0:r1]
                t = F.linear(y[r0:r1], m_y)
                t.mul_(self._spatial_tail(F.linear(vc, w_sa)))
                xc = _flat(x[r0:r1])
                xc.addmm_(_flat(vc), m_v)
                xc.add_(_flat(t))

        st.run(height, residual)
        return self.ffn(x, st)


class FusedHead(_Fused):
    """conv3x3, LeakyReLU, conv3x3 on row chunks (halo 2)."""

    def __init__(self, head: OutputHead):
        super().__init__()
        self._buf("w1", head.conv1.weight)
        self._buf("w2", head.conv2.weight)

    def forward(self, x: Tensor, st: Streamer) -> Tensor:
        """``(H, W, C) -> (out, H, W)`` float32 (a new tensor)."""
        height, width = x.shape[0], x.shape[1]
        out = torch.empty(self.w2.shape[0], height, width, dtype=torch.float32, device=x.device)

        def work(r0: int, r1: int) -> None:
            a, b, off = _halo(r0, r1, 2, height)
            h = F.leaky_relu_(_conv(x[a:b], self.w1), 0.01)
            out[:, r0:r1] = _conv(h, self.w2)[off : off + r1 - r0].permute(2, 0, 1)

        st.run(height, work)
        return out


class FusedEncoder(_Fused):
    def __init__(self, enc: nn.Module, name: str):
        super().__init__()
        self.name = name
        self._buf("embed", enc.embed.weight)
        self.base = nn.ModuleList(FusedSWT(b) for b in enc.base)
        self.shared = nn.ModuleList(_fuse_block(b) for b in enc.shared)
        self.complementary = nn.ModuleList(_fuse_block(b) for b in enc.complementary)

    def forward(self, img: Tensor, st: Streamer) -> tuple[Tensor, Tensor]:
        """``(H, W, in)`` -> ``(shared, complementary)``, each ``(H, W, C)`` (workspace)."""
        height, width = img.shape[0], img.shape[1]
        c = self.embed.shape[0]
        x = st.buffer(f"{self.name}_shared", (height, width, c), img)

        def embed(r0: int, r1: int) -> None:
            a, b, off = _halo(r0, r1, 1, height)
            x[r0:r1] = _conv(img[a:b], self.embed)[off : off + r1 - r0]

        st.run(height, embed)
        for blk in self.base:
            x = blk(x, st)
        comp = st.buffer(f"{self.name}_comp", x.shape, x)
        comp.copy_(x)
        for blk in self.shared:
            x = blk(x, st)
        for blk in self.complementary:
            comp = blk(comp, st)
        return x, comp


def _fuse_block(block: nn.Module) -> nn.Module:
    if isinstance(block, SWT):
        return FusedSWT(block)
    if isinstance(block, LKBlock):
        return FusedLK(block)
    raise TypeError(f"cannot fuse {type(block).__name__}")


class FusedMossFuse(_Fused):
    """E_Y, E_x and D_X, fused and streamed.

    ``forward(hr_msi (N, b, H, W), lr_hsi (N, B, h, w)) -> (N, B, H, W)`` float32, not clipped;
    images run one at a time. Use under ``torch.inference_mode()``; build with
    :meth:`from_network`. Keeps a workspace of a few full-size feature buffers between calls
    (:meth:`release_workspace` frees it).

    Args:
        net: the trained network (its eval-mode BatchNorm statistics are used).
        chunk_bytes: see :class:`Streamer`.
        workers: chunk worker threads (None: torch's current intra-op thread count, read at
            each call). With more than one, torch's intra-op threads are set to 1 during the
            call and restored after.
    """

    def __init__(self, net: nn.Module, chunk_bytes: int = 8 << 20, workers: int | None = None):
        super().__init__()
        cfg = net.cfg
        self.topology = cfg.fusion_topology
        # widest per-chunk temporary: the LK hidden layer (4C); the rest run in C-wide groups
        self.widest = max(cfg.lk_ffn_factor, 1) * cfg.channels
        self.streamer = Streamer(chunk_bytes)
        self.workers = workers
        self.encoder_msi = FusedEncoder(net.encoder_msi, "msi")
        self.encoder_hsi = FusedEncoder(net.encoder_hsi, "hsi")
        dec = net.decoder_fused
        self.combine_concat = dec.combine.reduce is not None
        if self.combine_concat:
            w = _mat(dec.combine.reduce)
            c = w.shape[0]
            self._buf("reduce_a", w[:, :c])
            self._buf("reduce_b", w[:, c:])
        if self.topology == "cascade":
            self.spatial = FusedAggregation(dec.spatial)
            self.spectral = FusedAggregation(dec.spectral)
        else:
            self.spatial = FusedAggregation(net.decoder_msi.aggregate)
            self.spectral = FusedAggregation(net.decoder_hsi.aggregate)
        self.blocks = nn.ModuleList(FusedSWT(b) for b in dec.blocks)
        self.head = FusedHead(dec.head)

    @classmethod
    def from_network(
        cls, net: nn.Module, dtype: torch.dtype = torch.float32, chunk_bytes: int = 8 << 20,
        workers: int | None = None,
    ) -> FusedMossFuse:
        """Snapshot of ``net`` (BatchNorm running statistics, i.e. eval mode) in ``dtype``."""
        with torch.no_grad():
            fused = cls(net, chunk_bytes, workers)
        return fused.to(dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self.encoder_msi.embed.dtype

    def release_workspace(self) -> None:
        """Free the persistent full-size buffers."""
        self.streamer.release()

    def _combine(self, a: Tensor, b: Tensor) -> Tensor:
        """``conv1x1(concat(a, b))`` into the workspace, or ``a += b``."""
        st = self.streamer
        if not self.combine_concat:
            return a.add_(b)
        z = st.buffer("z", a.shape, a)

        def work(r0: int, r1: int) -> None:
            zc = _flat(z[r0:r1])
            torch.mm(_flat(a[r0:r1]), self.reduce_a.T, out=zc)
            zc.addmm_(_flat(b[r0:r1]), self.reduce_b.T)

        st.run(a.shape[0], work)
        return z

    def fuse_one(self, hr_msi: Tensor, lr_hsi: Tensor) -> Tensor:
        """One image: ``(b, H, W), (B, h, w) -> (B, H, W)`` float32."""
        dt, st = self.dtype, self.streamer
        height, width = hr_msi.shape[-2:]
        st.configure(width, self.widest, torch.empty((), dtype=dt).element_size())
        up = F.interpolate(lr_hsi[None].float(), size=(height, width), mode="bilinear",
                           align_corners=False)
        up = up[0].permute(1, 2, 0).to(dt).contiguous()
        msi = hr_msi.permute(1, 2, 0).to(dt).contiguous()
        s_y, c_y = self.encoder_msi(msi, st)
        s_x, c_x = self.encoder_hsi(up, st)
        del msi, up
        if self.topology == "cascade":
            z = self._combine(s_y, s_x)
            z = self.spatial(z, c_y, st)
            z = self.spectral(z, c_x, st)
        else:
            f_y = self.spatial(s_y, c_y, st)
            f_x = self.spectral(s_x, c_x, st)
            z = self._combine(f_y, f_x)
        for blk in self.blocks:
            z = blk(z, st)
        return self.head(z, st)

    def forward(self, hr_msi: Tensor, lr_hsi: Tensor) -> Tensor:
        if hr_msi.ndim != 4 or lr_hsi.ndim != 4:
            raise ValueError(
                f"expected hr_msi (N, b, H, W) and lr_hsi (N, B, h, w); got "
                f"{tuple(hr_msi.shape)} and {tuple(lr_hsi.shape)}"
            )
        threads = torch.get_num_threads()
        workers = self.workers if self.workers is not None else threads
        self.streamer.workers = max(1, workers)
        if workers > 1:
            torch.set_num_threads(1)
        try:
            outs = [self.fuse_one(m, h) for m, h in zip(hr_msi, lr_hsi, strict=True)]
        finally:
            if workers > 1:
                torch.set_num_threads(threads)
        return torch.stack(outs)
