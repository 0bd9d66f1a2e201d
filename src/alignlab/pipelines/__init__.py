"""Pipelines: each verb assembled from data, models, algorithms and loops."""
