"""The paper's analyses as library functions (issue #8); ``mossfuse analyze ...`` calls them.

- :mod:`.robustness`: fusion quality and blind degradation estimates across the six DAEM
  degradations ``daem-k0`` ... ``daem-k5`` (paper appendix C, Fig. 9, 10, 12).
- :mod:`.decoupling`: PCA of the four decoupled feature sets of MossFuse and the cosine
  similarities that ``L_SC`` acts on (paper Fig. 7).
- :mod:`.sweep`: loss-weight sensitivity over alpha1, alpha2, alpha3 with a short training
  budget per point (paper appendix D, Fig. 11).
- :mod:`.efficiency`: parameters, FLOPs, inference time, peak memory and training time of every
  registered method (paper Table 2).

Each ``run_*`` function writes its results (Markdown, CSV, JSON) and figures to a folder and
returns a summary dict. Nothing here ever hands a reference image to a method: references are
read only by the evaluators (:mod:`mossfuse.bench.runner`,
:class:`~mossfuse.methods.mossfuse.train.ReferenceEvaluator`).
"""

from __future__ import annotations

__all__ = ["decoupling", "efficiency", "robustness", "sweep"]
