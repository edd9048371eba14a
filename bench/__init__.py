"""Benchmarks that report a ratio against a baseline measured in the same run.

``python -m bench`` (``make bench``) runs the intake benchmark: signed seat
events through gunicorn into seatsync, against a bare Flask endpoint that
answers 202 under the same gunicorn settings.
"""

from bench.intake import run_intake

__all__ = ["run_intake"]
