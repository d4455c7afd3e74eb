"""Assimilation methods: one file per method, no inheritance between them."""

from .oi import OIAnalysisStep as OIAnalysisStep
from .oi import OptimalInterpolation as OptimalInterpolation
from .threedvar import ThreeDVar as ThreeDVar
from .threedvar import ThreeDVarAnalysisStep as ThreeDVarAnalysisStep
from .threedvar import ThreeDVarSolution as ThreeDVarSolution
