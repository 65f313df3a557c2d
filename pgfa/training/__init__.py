"""Training: one epoch loop for every method, the loss, BatchNorm recalibration, checkpoints, several processes.

Public names (import them from their modules):

* :func:`pgfa.training.loop.train` ``(config, out, skeletons=None, force=False, progress=True, log=None) -> Path``:
  set up a run folder and train the configured method (``config.method``, :data:`pgfa.training.loop.METHODS`);
* :func:`pgfa.training.epochs.run_epochs`: the epoch loop a method's trainer runs;
  :func:`~pgfa.training.epochs.learning_rate`, :func:`~pgfa.training.epochs.epoch_batches`,
  :func:`~pgfa.training.epochs.is_better`: schedule, batch order and selection shared by every method;
* :func:`pgfa.training.loss.soft_target_contrastive_loss` ``((B, D), (B, D), (B,)) -> scalar``: SPEC 6's loss;
* :func:`pgfa.training.batchnorm.recalibrate_batchnorm`: BatchNorm statistics re-estimated without dropout;
* :mod:`pgfa.training.two_stage`: the two-stage baseline; :mod:`pgfa.training.distributed`: torchrun support.

Modules are not imported here, so importing one part of training does not load the others.
"""
