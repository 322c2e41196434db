"""gaelib: Generalized Advantage Estimation, correct and fast, in numpy and torch.

The companion library of the course *LLMs from theory to practice: Generalized
Advantage Estimation* (大规模语言模型从理论到实践：广义优势估计).

The core estimators are importable from the top level::

    from gaelib import gae, td_residuals, lambda_returns, discounted_cumsum

They accept numpy arrays or torch tensors (time-major, ``[T, *batch]``) and
return the same kind. Everything else lives in its own module (import it as
``from gaelib import reference``), so that importing gaelib stays light.
"""

from gaelib.advantages import (
    GAEOutput,
    discounted_cumsum,
    gae,
    lambda_returns,
    next_state_values,
    td_residuals,
)
from gaelib.masked import masked_gae
from gaelib.utils import seed_everything

from gaelib import advantages as _advantages

__all__ = [*_advantages.__all__, "masked_gae", "seed_everything"]

__version__ = "0.1.0"
