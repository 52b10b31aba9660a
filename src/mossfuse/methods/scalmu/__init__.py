"""SCALMU: unrolled coupled NMF with learned adaptive multiplicative updates, trained on
synthetic dead-leaves pairs only (see ``docs/scalmu.md``)."""

from mossfuse.methods.scalmu.method import Scalmu, ScalmuConfig, shipped_weights
from mossfuse.methods.scalmu.network import ScalmuNet, ScalmuOutput, make_problem, run_scalmu

__all__ = ["Scalmu", "ScalmuConfig", "ScalmuNet", "ScalmuOutput", "make_problem", "run_scalmu",
           "shipped_weights"]
