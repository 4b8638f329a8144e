"""The one plug-in registry: models, evaluators and split sources are found through entry points.

Groups (declared in ``pyproject.toml`` of any installed distribution):
``longvgenbench.models``, ``longvgenbench.evaluators``, ``longvgenbench.splits``. A third-party
package registers its own model by adding an entry point; nothing in this package imports
``baselines``, ``evaluators``, ``longvie`` or ``leaderboard`` directly.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from longvgenbench.errors import OptionError, UnknownNameError

MODELS = "longvgenbench.models"
EVALUATORS = "longvgenbench.evaluators"
SPLITS = "longvgenbench.splits"

_KIND = {MODELS: "model", EVALUATORS: "evaluator", SPLITS: "split"}


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def names(group: str) -> list[str]:
    """Registered names of a group, sorted."""
    return sorted(_entry_points(group))


def load(group: str, name: str) -> Any:
    """The object an entry point names (a class or an instance); unknown names suggest close ones."""
    eps = _entry_points(group)
    if name not in eps:
        raise UnknownNameError(_KIND[group], name, list(eps))
    return eps[name].load()


def _create(group: str, name: str, options: dict[str, Any]) -> Any:
    factory = load(group, name)
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:  # a wrong option or value: say so, no traceback
        raise OptionError(f"{_KIND[group]} {name!r} cannot use options {options}: {exc}") from exc


def create_model(name: str, **options: Any) -> Any:
    """Instantiate a registered :class:`~longvgenbench.model.VideoModel` by name."""
    return _create(MODELS, name, options)


def create_evaluator(name: str, **options: Any) -> Any:
    """Instantiate a registered :class:`~longvgenbench.evaluation.api.Evaluator` by name."""
    return _create(EVALUATORS, name, options)
