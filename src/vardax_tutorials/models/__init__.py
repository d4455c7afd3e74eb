"""Forward models and their rollout."""

from .base import AbstractODEModel as AbstractODEModel
from .base import rk4_step as rk4_step
from .lorenz import Lorenz63 as Lorenz63
from .lorenz import Lorenz96 as Lorenz96
from .rollout import rollout as rollout
