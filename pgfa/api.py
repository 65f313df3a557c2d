"""Python API: use a trained run on new sequences and any class names.

>>> model = pgfa.load("runs/demo")                              # doctest: +SKIP
>>> result = model.predict(x, ["wave right hand", "squat down"])  # doctest: +SKIP

The classes are open vocabulary: any names or ``name<TAB>description``
strings, none of which needs to have been seen in training.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pgfa.alignment.prototype import prototype_align
from pgfa.config import TrainConfig
from pgfa.models.model import build_model
from pgfa.text.cache import embed_texts
from pgfa.text.classes import ClassText
from pgfa.training.checkpoint import load_checkpoint
from pgfa.training.loop import pick_device


@dataclass
class Prediction:
    """Ranked classes for one sequence: ``labels[i]`` scored ``scores[i]`` (cosine)."""

    labels: list[str]
    scores: list[float]


def _as_class_texts(classes) -> list[ClassText]:
    texts = []
    for c in classes:
        if isinstance(c, ClassText):
            texts.append(c)
        else:
            name, _, description = str(c).partition("\t")
            texts.append(ClassText(name.strip(), description.strip()))
    if len(texts) < 2:
        raise ValueError("give at least two classes to choose from")
    return texts


class ZeroShotRecognizer:
    """A trained run, ready to encode skeletons and texts and to predict."""

    def __init__(self, run: str | Path, device: str = "auto"):
        run = Path(run)
        if not (run / "config.yaml").is_file():
            raise FileNotFoundError(f"{run}: not a pgfa run folder (no config.yaml)")
        self.run = run
        self.config = TrainConfig.load(run / "config.yaml")
        state = load_checkpoint(run / "best.pt")
        sig = state["signature"]
        self.layout = sig["layout"]
        self.device = pick_device(device)
        self.model = build_model(sig["backbone"], sig["layout"], sig["text_dim"], self.config.dropout)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device).eval()

    @torch.no_grad()
    def encode_skeletons(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``(N, 3, T, V, M)`` or one ``(3, T, V, M)`` preprocessed sequence -> ``(N, D)`` unit features."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 4:
            x = x[None]
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"skeletons must be (N, 3, T, V, M) or (3, T, V, M), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("skeletons contain NaN or infinite values")
        out = [self.model(torch.from_numpy(x[i : i + batch_size]).to(self.device)).float().cpu()
               for i in range(0, len(x), batch_size)]
        return F.normalize(torch.cat(out), dim=-1).numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings ``(K, D)`` with the run's own text encoder."""
        return embed_texts(list(texts), encoder=self.config.text_encoder)

    def predict(self, x: np.ndarray, classes, align: bool = False, alpha: float | None = None,
                top_k: int = 5) -> list[Prediction]:
        """Rank ``classes`` for every sequence of ``x``.

        With ``align``, prototype-guided alignment (SPEC section 7) runs over
        the given batch: it needs several sequences per class to help.
        """
        texts = _as_class_texts(classes)
        features = torch.from_numpy(self.encode_skeletons(x))
        text = torch.from_numpy(self.encode_texts([t.text(self.config.text_mode) for t in texts]))
        if align:
            scores = prototype_align(features, text, self.config.alpha if alpha is None else alpha,
                                     temperature=self.config.align_temperature).scores
        else:
            scores = features @ F.normalize(text, dim=-1).t()
        k = min(top_k, len(texts))
        top = scores.topk(k, dim=1)
        return [Prediction([texts[j].name for j in idx.tolist()], [round(float(v), 4) for v in val])
                for val, idx in zip(top.values, top.indices)]


def load(run: str | Path, device: str = "auto") -> ZeroShotRecognizer:
    """Load a trained run folder (written by ``pgfa train``)."""
    return ZeroShotRecognizer(run, device=device)
