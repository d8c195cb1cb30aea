"""Reward components by name: the built-in ones, or any callable named by a dotted import path.

A training config names its components in ``reward.weights``; ``reward.functions`` maps a name to
a built-in (``judge``, ``pixel``, ``edit_judge``) or to ``"package.module:attribute"``, and a name
without an entry is looked up among the built-ins. The attribute is either a reward callable
(used as it is) or a class or factory called with ``reward.options[name]`` as keyword arguments::

    reward:
      weights: {judge: 0.7, pixel: 0.2, brightness: 0.1}
      functions: {brightness: "mypkg.rewards:Brightness"}
      options: {brightness: {target: 0.6}}

Built-ins: ``pixel`` (keep-region similarity, :mod:`cocoedit.rewards.pixel`; options from
``reward.pixel``), ``judge`` (the MLLM judge, :mod:`cocoedit.rewards.mllm`; the ``judge`` section),
``edit_judge`` (the programmatic edit judge for data with target images, used by the demo).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from cocoedit.rewards.base import RewardError, RewardFunction

BUILTIN = ("judge", "pixel", "edit_judge")


def _builtin(name: str, options: Mapping[str, Any], judge: Any, pixel: Mapping[str, Any]) -> RewardFunction:
    if name == "pixel":
        from cocoedit.rewards.pixel import PixelReward

        return PixelReward(**{**pixel, **options})
    if name == "edit_judge":
        from cocoedit.rewards.edit_judge import EditJudge

        return EditJudge(**options)
    from cocoedit.rewards.mllm import JudgeReward, MLLMReward

    if judge is None:
        raise RewardError("reward 'judge' needs a judge section (docs/judge.md)")
    return JudgeReward(MLLMReward(judge))


def import_object(spec: str, where: str) -> Any:
    """The object named ``"package.module:attribute"`` (attribute may be dotted)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise RewardError(
            f"{where}: {spec!r} is neither a built-in reward ({', '.join(BUILTIN)}) nor 'package.module:attribute'"
        )
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise RewardError(f"{where}: cannot import {module_name} ({type(e).__name__}: {e})") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise RewardError(f"{where}: {module_name} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def load_reward(
    name: str,
    spec: str | None,
    options: Mapping[str, Any] | None = None,
    judge: Any = None,
    pixel: Mapping[str, Any] | None = None,
) -> RewardFunction:
    """The reward component ``name`` (see the module doc). ``judge`` is the judge config (for the
    built-in judge), ``pixel`` the built-in pixel reward's settings."""
    spec = spec or name
    options = dict(options or {})
    where = f"reward.functions.{name}" if spec != name else f"reward {name!r}"
    if spec in BUILTIN:
        return _builtin(spec, options, judge, pixel or {})
    obj = import_object(spec, where)
    if inspect.isclass(obj) or options:
        if not callable(obj):
            raise RewardError(f"{where}: {spec} is not callable")
        try:
            obj = obj(**options)
        except TypeError as e:
            raise RewardError(f"{where}: {spec}(**reward.options.{name}) failed: {e}") from None
    if not callable(obj):
        raise RewardError(f"{where}: {spec} is not callable")
    return obj


def load_rewards(
    weights: Mapping[str, float],
    functions: Mapping[str, str],
    options: Mapping[str, Mapping[str, Any]],
    judge: Any = None,
    pixel: Mapping[str, Any] | None = None,
    given: Mapping[str, RewardFunction] | None = None,
) -> dict[str, RewardFunction]:
    """Every component named in ``weights``; ``given`` supplies components built in code."""
    unknown = sorted((set(functions) | set(options)) - set(weights))
    if unknown:
        raise RewardError(f"reward.functions / reward.options name {unknown}, which reward.weights does not weigh")
    out: dict[str, RewardFunction] = {}
    for name in weights:
        if given and name in given:
            out[name] = given[name]
        else:
            out[name] = load_reward(name, functions.get(name), options.get(name), judge, pixel)
    return out


def close_rewards(rewards: Mapping[str, Callable]) -> None:
    """Call ``close()`` on every component that has one."""
    for fn in rewards.values():
        close = getattr(fn, "close", None)
        if callable(close):
            close()
