"""Metrics, evaluation of a run, reports and plots."""
