"""Class texts and their sentence embeddings: class files, frozen encoders, the on-disk cache.

Public names:

* :func:`embed_texts` ``(texts, encoder)`` -> ``(len(texts), dim)`` float32
  unit vectors, cached on disk per (encoder identity, exact text);
* :func:`embed_class_texts` ``(classes, mode, encoder)`` -> ``(K, dim)``: one
  unit vector per class from all the texts a text mode gives it (the averaging
  rule lives there);
* :func:`register_text_encoder` / :class:`EncoderSpec` / :data:`TEXT_ENCODERS`:
  add a text encoder from your own file (``--encoder NAME``);
* :class:`ClassText`, :func:`read_class_file`, :func:`resolve_class_texts`,
  :func:`builtin_classes`: the texts of a dataset's classes.

``pgfa.text`` builds on :mod:`pgfa.data` (class texts are dataset facts and
live there); ``pgfa.data`` never imports ``pgfa.text``.
"""
from pgfa.text.builtin import BUILTIN_DATASETS, builtin_classes
from pgfa.text.cache import embed_texts
from pgfa.text.class_embeddings import embed_class_texts
from pgfa.text.classes import ClassText, read_class_file, resolve_class_texts
from pgfa.text.encoders import (
    TEXT_ENCODERS,
    EncoderNotInstalled,
    EncoderSpec,
    register_text_encoder,
    resolve_encoder,
)

__all__ = [
    "BUILTIN_DATASETS",
    "ClassText",
    "EncoderNotInstalled",
    "EncoderSpec",
    "TEXT_ENCODERS",
    "builtin_classes",
    "embed_class_texts",
    "embed_texts",
    "read_class_file",
    "register_text_encoder",
    "resolve_class_texts",
    "resolve_encoder",
]
