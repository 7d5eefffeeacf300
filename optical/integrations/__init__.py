"""Bridges to other libraries; each module imports its library lazily and says how to install it.

- :mod:`optical.integrations.sentence_transformers`: optical's distillation objectives (the OPTICAL
  transport loss, the distiller's default combination, any :class:`~optical.distill.Objective`)
  as sentence-transformers losses (``pip install 'optical[st]'``).
"""

from __future__ import annotations
