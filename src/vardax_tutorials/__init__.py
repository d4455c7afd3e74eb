"""vardax_tutorials: variational data assimilation in JAX, as taught by the book.

Imported as `vdx`. Every public name lives in this flat namespace; the
submodules `vdx.protocols`, `vdx.obs`, `vdx.models`, `vdx.covariance`,
`vdx.methods`, `vdx.validation`, `vdx.metrics` and `vdx.plotting` group them by idea.
"""

from . import covariance as covariance
from . import methods as methods
from . import metrics as metrics
from . import models as models
from . import obs as obs
from . import plotting as plotting
from . import protocols as protocols
from . import validation as validation
from .batch import Batch1D as Batch1D
from .batch import TwinProblem as TwinProblem
from .batch import generate_problem as generate_problem
from .covariance import DiagonalCovariance as DiagonalCovariance
from .covariance import dense_covariance as dense_covariance
from .covariance import diagonal_covariance as diagonal_covariance
from .covariance import matern_covariance as matern_covariance
from .methods.oi import OIAnalysisStep as OIAnalysisStep
from .methods.oi import OptimalInterpolation as OptimalInterpolation
from .metrics import bias as bias
from .metrics import rmse as rmse
from .models.base import AbstractODEModel as AbstractODEModel
from .models.lorenz import Lorenz63 as Lorenz63
from .models.lorenz import Lorenz96 as Lorenz96
from .models.rollout import rollout as rollout
from .obs.base import AbstractObservationOperator as AbstractObservationOperator
from .obs.linear import LinearObs as LinearObs
from .obs.masked import MaskedIdentity as MaskedIdentity
from .protocols import AnalysisStep as AnalysisStep
from .protocols import ForwardModel as ForwardModel
from .protocols import ObservationOperator as ObservationOperator
from .validation import dot_product_test as dot_product_test

__version__ = "0.1.0"
