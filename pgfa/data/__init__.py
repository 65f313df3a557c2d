"""Skeleton data: joint layouts, file formats, preprocessing, splits, the synthetic benchmark."""
