"""Observation operators: maps from a state to what an instrument sees."""

from .base import AbstractObservationOperator as AbstractObservationOperator
from .base import apply_mask as apply_mask
from .base import is_linear as is_linear
from .linear import LinearObs as LinearObs
from .masked import MaskedIdentity as MaskedIdentity
from .averaging_kernel import AveragingKernel as AveragingKernel
from .multi_instrument import InstrumentRegistry as InstrumentRegistry
from .multi_instrument import InstrumentSpec as InstrumentSpec
from .multi_instrument import MultiInstrumentFusion as MultiInstrumentFusion
from .multi_instrument import StackedObs as StackedObs
