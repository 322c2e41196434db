"""verl plugin: importing this module registers gaelib's estimators in verl's registry.

``pyproject.toml`` declares it as a ``verl.plugins`` entry point; verl (0.9.1) imports every such
entry point when ``verl`` itself is imported (unless ``VERL_USE_EXTERNAL_PLUGINS=none``), in every
process that imports verl, Ray actors included. So after ``pip install "gaelib[verl]"`` the names
of :func:`gaelib.integrations.verl.register` work in ``algorithm.adv_estimator`` without further code.

If the environment variable ``GAELIB_VERL_GAE`` names one of gaelib's GAE estimators
(``gaelib_gae``, ``gaelib_decoupled_gae``, ``gaelib_vapo_gae``), the plugin also makes verl's
built-in ``gae`` run it (:func:`gaelib.integrations.verl.patch_builtin_gae`): verl's trainer gives
the critic's values only to ``gae``. Without verl installed, importing this module does nothing.
"""

import importlib.util
import os

from gaelib.integrations.verl import patch_builtin_gae, register

__all__: list[str] = []

if importlib.util.find_spec("verl") is not None:
    register()
    if os.environ.get("GAELIB_VERL_GAE"):
        patch_builtin_gae(os.environ["GAELIB_VERL_GAE"])
