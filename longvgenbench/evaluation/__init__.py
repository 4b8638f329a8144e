"""Evaluation: the evaluator interface (``api``), the engine that decodes each video once and
feeds every evaluator (``engine``), and aggregation into results (``aggregate``)."""
