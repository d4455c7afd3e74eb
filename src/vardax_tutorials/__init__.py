"""vardax_tutorials: variational data assimilation in JAX, as taught by the book.

Imported as `vdx`. Every public name lives in this flat namespace; the
submodules `vdx.protocols`, `vdx.obs`, `vdx.models`, `vdx.covariance`,
`vdx.methods`, `vdx.costs`, `vdx.priors`, `vdx.validation`, `vdx.metrics` and
`vdx.plotting` (imported on first use) group them by idea.
"""

from . import adjoints as adjoints
from . import costs as costs
from . import covariance as covariance
from . import methods as methods
from . import metrics as metrics
from . import models as models
from . import obs as obs
from . import priors as priors
from . import protocols as protocols
from . import validation as validation
from .adjoints import AbstractRestartAdjoint as AbstractRestartAdjoint
from .adjoints import KStepAdjoint as KStepAdjoint
from .adjoints import OneStepAdjoint as OneStepAdjoint
from .batch import Batch1D as Batch1D
from .batch import TwinProblem as TwinProblem
from .batch import generate_problem as generate_problem
from .batch import two_level_twin as two_level_twin
from .costs import decomposed_loss as decomposed_loss
from .costs import obs_cost_1d as obs_cost_1d
from .costs import prior_cost as prior_cost
from .costs import obs_residual as obs_residual
from .costs import window_obs_cost as window_obs_cost
from .costs import window_obs_residuals as window_obs_residuals
from .covariance import DiagonalCovariance as DiagonalCovariance
from .covariance import Kronecker as Kronecker
from .covariance import KroneckerCovariance as KroneckerCovariance
from .covariance import MaternCovariance as MaternCovariance
from .covariance import dense_covariance as dense_covariance
from .covariance import diagonal_covariance as diagonal_covariance
from .covariance import grid_points as grid_points
from .covariance import matern_covariance as matern_covariance
from .covariance import sqrt as sqrt
from .methods.base import AbstractAnalysisMethod as AbstractAnalysisMethod
from .methods.base import AbstractSolution as AbstractSolution
from .methods.base import AnalysisSolution as AnalysisSolution
from .methods.base import MethodAnalysisStep as MethodAnalysisStep
from .methods.base import WindowSolution as WindowSolution
from .methods.incremental_fourdvar import IncrementalConfig as IncrementalConfig
from .methods.incremental_fourdvar import IncrementalFourDVar as IncrementalFourDVar
from .methods.oi import OptimalInterpolation as OptimalInterpolation
from .methods.strong_fourdvar import StrongFourDVar as StrongFourDVar
from .methods.threedvar import ThreeDVar as ThreeDVar
from .methods.weak_fourdvar import WeakFourDVar as WeakFourDVar
from .metrics import bias as bias
from .metrics import rmse as rmse
from .models.advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from .models.base import AbstractModel as AbstractModel
from .models.base import AbstractODEModel as AbstractODEModel
from .models.base import AbstractRK4Model as AbstractRK4Model
from .models.integrators import ClassicalRK4 as ClassicalRK4
from .models.linear import LinearModel as LinearModel
from .models.lorenz import Lorenz63 as Lorenz63
from .models.lorenz import Lorenz96 as Lorenz96
from .models.lorenz import Lorenz96TwoLevel as Lorenz96TwoLevel
from .models.rollout import rollout as rollout
from .models.rollout import window as window
from .obs.averaging_kernel import AveragingKernel as AveragingKernel
from .obs.base import AbstractObservationOperator as AbstractObservationOperator
from .obs.linear import LinearObs as LinearObs
from .obs.masked import MaskedIdentity as MaskedIdentity
from .obs.multi_instrument import InstrumentRegistry as InstrumentRegistry
from .obs.multi_instrument import InstrumentSpec as InstrumentSpec
from .obs.multi_instrument import MultiInstrumentFusion as MultiInstrumentFusion
from .obs.multi_instrument import StackedObs as StackedObs
from .priors.dynamical import DynamicalPrior as DynamicalPrior
from .protocols import AnalysisStep as AnalysisStep
from .protocols import ForwardModel as ForwardModel
from .protocols import ObservationOperator as ObservationOperator
from .validation import best_time as best_time
from .validation import count_compiles as count_compiles
from .validation import dot_product_test as dot_product_test
from .validation import jacobian_test as jacobian_test
from .validation import taylor_test as taylor_test

__version__ = "0.1.0"


def __getattr__(name: str):
    # `vdx.plotting` is imported on first use, so that `import vardax_tutorials`
    # does not import matplotlib.pyplot (slow, and it picks a GUI backend).
    if name == "plotting":
        import importlib

        module = importlib.import_module(f"{__name__}.plotting")
        globals()["plotting"] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
