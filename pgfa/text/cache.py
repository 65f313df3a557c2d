"""Embedding cache: one vector per (encoder identity, exact text), on disk.

Class texts are few and encoders are slow to load, so train, evaluate and
predict share embeddings through this cache; an encoder is only loaded when
some text has not been embedded before. A changed text is a new key, so an
edited description is never served a stale vector.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pgfa.io import cache_dir, write_npy
from pgfa.text.encoders import SentenceEncoder, resolve_encoder


def _key(identity: str, text: str) -> str:
    return hashlib.sha256(f"{identity}\0{text}".encode("utf-8")).hexdigest()


def embed_texts(
    texts: list[str],
    encoder: str = "minilm",
    cache: str | Path | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Embed ``texts`` with a frozen encoder, reusing cached vectors.

    ``encoder`` is a registered name (``minilm``, ``mpnet``, or one added
    with :func:`pgfa.text.encoders.register_text_encoder`) or a model folder.
    Returns ``(len(texts), dim)`` float32 unit vectors.
    """
    spec = resolve_encoder(encoder)
    root = Path(cache) if cache is not None else cache_dir() / "embeddings"
    folder = root / hashlib.sha256(spec.identity.encode()).hexdigest()[:16]
    vectors: list[np.ndarray | None] = []
    missing: list[int] = []
    for i, text in enumerate(texts):
        path = folder / f"{_key(spec.identity, text)}.npy"
        if path.is_file():
            vectors.append(np.load(path))
        else:
            vectors.append(None)
            missing.append(i)
    if missing:
        loader = spec.loader or SentenceEncoder  # looked up here, so a test can count the loads
        model = loader(spec, device=device)
        fresh = model.encode([texts[i] for i in missing])
        for i, vec in zip(missing, fresh):
            vectors[i] = vec.astype(np.float32)
            write_npy(folder / f"{_key(spec.identity, texts[i])}.npy", vectors[i])
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(vectors).astype(np.float32)

