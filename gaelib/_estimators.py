r"""Each estimator of gaelib, defined once, as one step of a backward linear recurrence.

Every estimator is

.. math:: x_t = b_t + a_t\, x_{t+1}, \qquad x_T = 0,

with a per-step offset :math:`b_t` and a carry coefficient :math:`a_t` that depend
only on step :math:`t`'s inputs. This module gives :math:`(b_t, a_t)` for each
estimator and nothing else; the scans that run the recurrence live in
``gaelib._kernels`` (numba, a loop on the CPU) and ``gaelib._scan`` (numpy and
torch, a blocked log-depth scan on any device). The functions below use only ``+``,
``-`` and ``*`` and no literals (a Python ``1`` would widen float32 to float64 inside
numba), so the same source runs on Python floats inside a numba loop, on
numpy arrays and on torch tensors of any device.

Arguments, the same for every estimator (scalars or arrays broadcasting together):

* ``r``: :math:`r_t` (for :func:`discounted_cumsum`, the summed quantity :math:`x_t`);
* ``v``: :math:`V(s_t)`; ``nv``: :math:`V(s_{t+1})`;
* ``alive``: 0 where :math:`s_{t+1}` is terminal (``terminated[t]``), else 1;
* ``keep``: 0 where the λ-trace is cut after step :math:`t` (``truncated[t]``, the last
  step of the data), else 1;
* ``g``: :math:`\gamma_t`; ``lam``: :math:`\lambda_t`.

``alive`` and ``keep`` are 0/1 numbers, not booleans, so a cut is a multiplication by 0:
nothing is divided, and a non-finite input reaches the result (``0 * nan`` is ``nan``),
where the finiteness check finds it.

Internal module: the functions are private.
"""

from __future__ import annotations

__all__: list[str] = []


def td_coefficients(r, v, nv, alive, keep, g, lam):
    r""":math:`b_t = \delta_t = r_t + \gamma_t\,\mathrm{alive}_t\,V(s_{t+1}) - V(s_t)`, :math:`a_t = 0`."""
    return r + g * alive * nv - v, g - g


def gae_coefficients(r, v, nv, alive, keep, g, lam):
    r"""GAE: :math:`b_t = \delta_t`, :math:`a_t = \gamma_t \lambda_t\,\mathrm{alive}_t\,\mathrm{keep}_t`."""
    gd = g * alive
    return r + gd * nv - v, gd * lam * keep


def lambda_return_coefficients(r, v, nv, alive, keep, g, lam):
    r"""λ-returns: :math:`G_t = r_t + \gamma_t[(1 - \lambda_t c_t) V(s_{t+1}) + \lambda_t c_t G_{t+1}]`,

    with :math:`\gamma_t` zeroed by termination and :math:`c_t = \mathrm{keep}_t`, so
    :math:`b_t = r_t + \gamma_t (1 - \lambda_t c_t) V(s_{t+1})` and
    :math:`a_t = \gamma_t \lambda_t c_t`. ``v`` is not used.
    """
    gd = g * alive
    a = gd * lam * keep
    return r + gd * nv - a * nv, a


def cumsum_coefficients(r, v, nv, alive, keep, g, lam):
    r"""Discounted cumulative sum cut where ``alive`` is 0: :math:`b_t = x_t`, :math:`a_t = \gamma_t\,\mathrm{alive}_t`."""
    return r, g * alive


# name -> (coefficient function, whether it reads V(s_{t+1}), whether x needs a scan)
ESTIMATORS = {
    "td": (td_coefficients, True, False),
    "gae": (gae_coefficients, True, True),
    "lambda_returns": (lambda_return_coefficients, True, True),
    "cumsum": (cumsum_coefficients, False, True),
}
