"""Assimilation methods: one file per method, no inheritance between them.

`_common` holds the plumbing they share: the optimistix call and the analysis-step form.
"""

from ._common import VariationalAnalysisStep as VariationalAnalysisStep

from .oi import OIAnalysisStep as OIAnalysisStep
from .oi import OptimalInterpolation as OptimalInterpolation
from .threedvar import ThreeDVar as ThreeDVar
from .threedvar import ThreeDVarSolution as ThreeDVarSolution
from .incremental_fourdvar import IncrementalConfig as IncrementalConfig
from .incremental_fourdvar import IncrementalFourDVar as IncrementalFourDVar
from .strong_fourdvar import StrongFourDVar as StrongFourDVar
from .weak_fourdvar import WeakFourDVar as WeakFourDVar
