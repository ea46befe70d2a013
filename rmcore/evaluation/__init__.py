"""Evaluating one model on scored pairs: metrics, slices, calibration, length bias,
and the report and plots people read."""
