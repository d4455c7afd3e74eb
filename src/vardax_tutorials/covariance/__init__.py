"""Covariances as positive-semidefinite-tagged lineax operators, and their structure.

Constructors: `diagonal_covariance`, `dense_covariance`, `MaternCovariance`
(`matern_covariance`), `KroneckerCovariance`. Structure-exploiting operations
(never a nested iterative solve): `sqrt` ($B = LL^\\top$), `whiten` ($L^{-1}v$),
`solve` ($B^{-1}v$) and `logdet`.
"""

from .dense import COVARIANCE_TAGS as COVARIANCE_TAGS
from .dense import DiagonalCovariance as DiagonalCovariance
from .dense import dense_covariance as dense_covariance
from .dense import diagonal_covariance as diagonal_covariance
from .matern import MATERN_NUS as MATERN_NUS
from .matern import MaternCovariance as MaternCovariance
from .matern import grid_points as grid_points
from .matern import matern_covariance as matern_covariance
from .matern import matern_kernel as matern_kernel
from .kronecker import Kronecker as Kronecker
from .kronecker import KroneckerCovariance as KroneckerCovariance
from .structure import Whitener as Whitener
from .structure import logdet as logdet
from .structure import solve as solve
from .structure import sqrt as sqrt
from .structure import whiten as whiten
