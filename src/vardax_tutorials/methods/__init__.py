"""Assimilation methods: one abstract contract (`base`), one file per method, no inheritance between them.

`_common` holds the plumbing the variational methods share: the optimistix call.
"""

from .base import AbstractAnalysisMethod as AbstractAnalysisMethod
from .base import AbstractSolution as AbstractSolution
from .base import AnalysisSolution as AnalysisSolution
from .base import MethodAnalysisStep as MethodAnalysisStep
from .base import WindowSolution as WindowSolution
from .incremental_fourdvar import IncrementalConfig as IncrementalConfig
from .incremental_fourdvar import IncrementalFourDVar as IncrementalFourDVar
from .oi import OptimalInterpolation as OptimalInterpolation
from .strong_fourdvar import StrongFourDVar as StrongFourDVar
from .threedvar import ThreeDVar as ThreeDVar
from .weak_fourdvar import WeakFourDVar as WeakFourDVar
