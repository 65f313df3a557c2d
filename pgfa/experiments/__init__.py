"""Experiment drivers built on training and evaluation: ``pgfa reproduce``, ``tune-alignment``, ``demo`` and reports.

Public names (import them from their modules):

* :func:`pgfa.experiments.reproduce.make_plan` / :func:`~pgfa.experiments.reproduce.plan_and_data` /
  :func:`~pgfa.experiments.reproduce.execute`: every split of a paper setting x seeds -> ``report.md``;
* :func:`pgfa.experiments.alignment_tuning.tune_alignment`: α and temperature chosen on held-out *seen* classes;
* :func:`pgfa.experiments.demo.run_demo`: the built-in synthetic benchmark, three splits;
* :func:`pgfa.experiments.report.write_report`: ``report.md`` and ``results.json`` of a reproduction.
"""
