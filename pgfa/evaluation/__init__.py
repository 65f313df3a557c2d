"""Evaluation of a trained run: zero-shot, generalised zero-shot and one-shot figures.

Public names (import them from their modules):

* :func:`pgfa.evaluation.evaluate.evaluate_run` ``(run, align=True, alpha=None, ...) -> pgfa.run.RunMetrics``:
  score a run's unseen test samples, write ``metrics*.json`` and plots;
* :mod:`pgfa.evaluation.metrics`: ``topk_accuracy(scores (N, K), targets (N,), k)``, ``confusion_matrix``,
  ``per_class_accuracy``;
* :mod:`pgfa.evaluation.gzsl`: ``gzsl_metrics``, ``calibrate``, ``select_gamma``, ``ausuc`` (calibrated stacking);
* :mod:`pgfa.evaluation.oneshot`: ``one_shot_evaluate`` / ``one_shot_report`` (one exemplar per novel class);
* :mod:`pgfa.evaluation.diagnostics`: ``alignment_diagnostics`` (the alignment's premise, for reports only).

Evaluation never imports the training loop; scoring comes from :mod:`pgfa.scoring`, the run from :mod:`pgfa.run`.
"""
