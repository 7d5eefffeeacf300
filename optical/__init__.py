"""optical: cross-lingual neural retrieval for low-resource languages.

Layers, lowest first (a layer imports only the ones below it): ``optical.ot`` (batched
entropic optimal transport), then the data, model, training and evaluation layers, and
``optical.cli`` on top. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

__version__ = "0.1.0"
