"""Assimilation methods: one file per method, no inheritance between them."""

from .oi import OIAnalysisStep as OIAnalysisStep
from .oi import OptimalInterpolation as OptimalInterpolation
from .threedvar import ThreeDVar as ThreeDVar
from .threedvar import ThreeDVarAnalysisStep as ThreeDVarAnalysisStep
from .threedvar import ThreeDVarSolution as ThreeDVarSolution
from .incremental_fourdvar import IncrementalConfig as IncrementalConfig
from .incremental_fourdvar import IncrementalFourDVar as IncrementalFourDVar
from .strong_fourdvar import StrongFourDVar as StrongFourDVar
from .weak_fourdvar import WeakFourDVar as WeakFourDVar
