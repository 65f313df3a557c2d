"""Skeleton data: joint layouts, file formats, preprocessing, splits, the synthetic benchmark.

Where things are (this ``__init__`` imports nothing, so ``import
pgfa.data.layouts`` stays cheap):

* :mod:`~pgfa.data.skeletons`: :class:`SkeletonSet` (``(N, 3, T, V, M)``
  data + ``(N,)`` labels) and :class:`ClassText`, the records everything
  passes around;
* :mod:`~pgfa.data.formats`: :func:`load_skeletons` (any ``--data``) and
  :func:`load_sequences` (prediction inputs); :mod:`~pgfa.data.safe_pickle`
  reads pickles without running code; :mod:`~pgfa.data.errors`:
  :class:`DataError`;
* :mod:`~pgfa.data.ntu`, :mod:`~pgfa.data.pku`, :mod:`~pgfa.data.prepare`:
  raw dataset files and ``pgfa prepare``;
* :mod:`~pgfa.data.preprocess`, :mod:`~pgfa.data.layouts`,
  :mod:`~pgfa.data.splits`, :mod:`~pgfa.data.split_registry`,
  :mod:`~pgfa.data.class_texts` (built-in class names and descriptions);
* :mod:`pgfa.data.synthetic`: the built-in benchmark.

``pgfa.data`` is a foundation: it imports nothing from the rest of pgfa but
:mod:`pgfa.io` and :mod:`pgfa.errors` (``pgfa.text`` builds on it, not the
other way round).
"""
