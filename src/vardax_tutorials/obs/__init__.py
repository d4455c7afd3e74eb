"""Observation operators: maps from a state to what an instrument sees."""

from .base import AbstractObservationOperator as AbstractObservationOperator
from .base import apply_mask as apply_mask
from .base import is_linear as is_linear
from .linear import LinearObs as LinearObs
from .masked import MaskedIdentity as MaskedIdentity
