"""Adapters that plug gaelib's estimators into other training engines.

Each engine is optional: ``gaelib`` never imports one, and an adapter imports its engine
only when asked to register (``pip install "gaelib[verl]"`` for :mod:`gaelib.integrations.verl`).
"""

__all__: list[str] = []
