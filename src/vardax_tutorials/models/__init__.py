"""Forward models and their rollout."""

from .advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from .base import AbstractModel as AbstractModel
from .base import AbstractODEModel as AbstractODEModel
from .base import AbstractRK4Model as AbstractRK4Model
from .base import rk4_step as rk4_step
from .linear import LinearModel as LinearModel
from .lorenz import Lorenz63 as Lorenz63
from .lorenz import Lorenz96 as Lorenz96
from .lorenz import Lorenz96TwoLevel as Lorenz96TwoLevel
from .rollout import rollout as rollout
from .integrators import ClassicalRK4 as ClassicalRK4
from .integrators import diffrax_integrator as diffrax_integrator
from .rollout import window as window
