"""Built-in class texts of the supported datasets (``--classes ntu60`` ...).

The tables and the shipped files belong to the datasets, so they live in
:mod:`pgfa.data.class_texts` (see there for the files and their order); this
module keeps the names where :mod:`pgfa.text` users look for them.
"""
from __future__ import annotations

from pgfa.data.class_texts import BUILTIN_DATASETS, builtin_classes

__all__ = ["BUILTIN_DATASETS", "builtin_classes"]
