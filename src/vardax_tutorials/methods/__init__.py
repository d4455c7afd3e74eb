"""Assimilation methods: one file per method, no inheritance between them."""

from .oi import OIAnalysisStep as OIAnalysisStep
from .oi import OptimalInterpolation as OptimalInterpolation
