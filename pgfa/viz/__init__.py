"""Drawing: skeleton sequences (:mod:`pgfa.viz.render`) and result plots (:mod:`pgfa.viz.plots`).

Public names: :func:`pgfa.viz.render.render_sequence` ``((3, T, V, M), layout, path)`` (PNG strip or GIF);
:mod:`pgfa.viz.plots`: ``plot_confusion``, ``plot_per_class``, ``plot_feature_map``, ``plot_summary``,
``plot_alignment_premise``. matplotlib is imported only when something is drawn.
"""
