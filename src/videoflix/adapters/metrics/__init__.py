"""Prometheus metrics: recording, exposition, and the worker's own metrics port."""
