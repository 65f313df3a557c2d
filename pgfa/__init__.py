"""pgfa: zero-shot skeleton-based action recognition with prototype-guided feature alignment.

The names a user needs, in pipeline order (each is imported on first use, so
``import pgfa`` stays cheap and no sub-package imports this one):

* :class:`TrainConfig`: every setting of a run (:mod:`pgfa.config`);
* :func:`train` ``(config, out) -> Path``: train a run folder (:func:`pgfa.training.loop.train`);
* :func:`evaluate` ``(run, ...) -> RunMetrics``: unseen-class figures of a run
  (:func:`pgfa.evaluation.evaluate.evaluate_run`);
* :func:`load` ``(run) -> ZeroShotRecognizer``: a trained run, to predict any class names (:mod:`pgfa.api`);
* :func:`load_run` ``(run, checkpoint="best.pt") -> (config, state, model, device)``: the network of a run
  (:func:`pgfa.run.load_model`); :class:`RunMetrics`, :func:`read_metrics`: an evaluation's figures;
* :func:`align` ``(features (N, D), text (K, D), alpha) -> AlignmentResult``: prototype alignment
  (:func:`pgfa.alignment.prototype.prototype_align`);
* :func:`build_model` ``(backbone, layout, text_dim, dropout) -> ZeroShotModel`` (:mod:`pgfa.models.model`);
* :func:`register_backbone`, :func:`register_text_encoder`: add your own backbone or text encoder.
"""

from pgfa.version import __version__

__all__ = ["__version__", "TrainConfig", "train", "evaluate", "load", "load_run", "RunMetrics", "read_metrics",
           "align", "build_model", "register_backbone", "register_text_encoder"]


def __getattr__(name: str):
    """Import a public name on first use (module ``__getattr__``, PEP 562)."""
    if name == "TrainConfig":
        from pgfa.config import TrainConfig as value
    elif name == "train":
        from pgfa.training.loop import train as value
    elif name == "evaluate":
        from pgfa.evaluation.evaluate import evaluate_run as value
    elif name == "load":
        from pgfa.api import load as value
    elif name == "load_run":
        from pgfa.run import load_model as value
    elif name == "RunMetrics":
        from pgfa.run import RunMetrics as value
    elif name == "read_metrics":
        from pgfa.run import read_metrics as value
    elif name == "align":
        from pgfa.alignment.prototype import prototype_align as value
    elif name == "build_model":
        from pgfa.models.model import build_model as value
    elif name == "register_backbone":
        from pgfa.models.registry import register_backbone as value
    elif name == "register_text_encoder":
        from pgfa.text.encoders import register_text_encoder as value
    else:
        raise AttributeError(f"module 'pgfa' has no attribute {name!r}")
    globals()[name] = value
    return value

