"""longvgenbench: benchmark and evaluation suite for long, controllable video world models.

The core package owns the typed records, the plug-in registry, video I/O, splits, the
runner, the evaluation engine, the results schema and the CLI. Models, evaluators and
split sources are plug-ins found through entry points (see ``longvgenbench.registry``);
this package never imports ``evaluators``, ``baselines``, ``longvie`` or ``leaderboard``
at import time.
"""

__version__ = "0.1.0"
