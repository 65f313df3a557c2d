"""Interoperability with the field's files: the PGFA release in, feature files for other methods out.

- :mod:`pgfa.interop.import_checkpoint`: a checkpoint saved by the PGFA
  reference code -> a pgfa run folder (``pgfa import-checkpoint``);
- :mod:`pgfa.interop.release_table`: every released checkpoint at once, each
  to its split's folder, and a table of their top-1;
- :mod:`pgfa.interop.export_features`: a pgfa run -> the feature files that
  SynSE, SA-DVAE and similar methods train on (``pgfa export-features``).

The readers of the release's data folders and of feature folders are data
readers and live in :mod:`pgfa.data.release` and :mod:`pgfa.data.features`.
See ``docs/INTEROP.md``.
"""
