"""Priors beyond a static covariance."""

from .dynamical import DynamicalPrior as DynamicalPrior
