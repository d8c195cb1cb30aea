"""Reward components: one entry each, built by a built-in factory or named by import path.

A training config lists its components in ``reward.components`` (:class:`RewardComponent`)::

    reward:
      components:
        - {name: judge, weight: 0.7, options: {endpoint: {base_url: "http://127.0.0.1:8000/v1", model: ...}}}
        - {name: pixel, weight: 0.2, options: {psnr_weight: 0.65, ssim_weight: 0.35}}
        - {name: target, function: "mypkg.rewards:BrightnessTarget", weight: 0.1, options: {target: 0.6}}

``function`` is a built-in (a key of :data:`BUILTIN_REWARDS`) or an import path, either
``package.module:attribute`` or ``package.module.attribute``; without it, the component's ``name``
is the built-in's. :data:`BUILTIN_REWARDS` maps each built-in name to its factory (the shape of
TRL's reward table: name -> factory): ``pixel`` (keep-region similarity,
:mod:`cocoedit.rewards.pixel`), ``judge`` (the MLLM judge, :mod:`cocoedit.rewards.mllm`; its
options are the judge's settings, docs/judge.md) and ``edit_judge`` (the programmatic edit judge
for data with target images, used by the demo). A built-in's options are checked against its
options model when the config loads (unknown keys refused, defaults filled in). An imported class
or factory is called with the options as keyword arguments; an imported callable without options
is used as it is.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from cocoedit.core.settings import explain_problems
from cocoedit.rewards.base import RewardError, RewardFunction
from cocoedit.rewards.edit_judge import EditJudge
from cocoedit.rewards.mllm import JudgeReward, MLLMReward, MLLMRewardConfig
from cocoedit.rewards.pixel import PixelReward, PixelRewardOptions

#: Component names are metric keys (``reward/<name>``) and YAML keys: no spaces or slashes.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class NoOptions(BaseModel):
    """The options of a built-in that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _judge(**options: Any) -> RewardFunction:
    return JudgeReward(MLLMReward(MLLMRewardConfig.model_validate(options)))


@dataclass(frozen=True)
class RewardFactory:
    """A built-in reward: ``build(**options)`` returns the reward callable, ``options`` is the
    pydantic model its options are checked against, ``doc`` where they are documented. ``paths``
    are option keys holding a file path (made absolute in a run's records); ``resumable`` are
    option keys (a trailing ``.`` for a whole section) that may change when a run is resumed."""

    build: Callable[..., RewardFunction]
    options: type[BaseModel]
    doc: str
    paths: tuple[str, ...] = ()
    resumable: tuple[str, ...] = ()

    def check_options(self, options: Mapping[str, Any], name: str) -> dict[str, Any]:
        """The options validated, with every default filled in (JSON types); :class:`ValueError`
        naming the component and the key otherwise."""
        try:
            return self.options.model_validate(dict(options)).model_dump(mode="json")
        except ValidationError as e:
            raise ValueError(f"component {name!r}: {explain_problems(e, self.options)} (see {self.doc})") from None


BUILTIN_REWARDS: dict[str, RewardFactory] = {
    "judge": RewardFactory(
        _judge,
        MLLMRewardConfig,
        "docs/judge.md",
        paths=("cache_path",),
        resumable=("endpoint.", "endpoints", "cache_path", "check_health"),
    ),
    "pixel": RewardFactory(PixelReward, PixelRewardOptions, "docs/training.md#reward-components"),
    "edit_judge": RewardFactory(EditJudge, NoOptions, "docs/training.md#reward-components"),
}


class RewardComponent(BaseModel):
    """One reward component of a training config (``reward.components``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(
        description="Its name in metrics (reward/<name>) and logs; without function, the built-in of that name."
    )
    function: str | None = Field(
        None,
        description="A built-in (judge, pixel, edit_judge) or an import path, package.module:attribute or "
        "package.module.attribute; None: the built-in called name.",
    )
    weight: float = Field(
        1.0, ge=0, description="Its weight w_k in R = sum_k w_k s_k; 0 scores and logs it without training on it."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="Keyword arguments of the component's factory or class; a built-in's are checked when the "
        "config loads.",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a component name: letters, digits, '_', '.' and '-' only")
        return name

    @field_validator("options")
    @classmethod
    def _builtin_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("name")
        factory = BUILTIN_REWARDS.get(info.data.get("function") or name or "")
        return options if factory is None or name is None else factory.check_options(options, name)

    @property
    def target(self) -> str:
        """What the component is: its ``function``, else its name (a built-in)."""
        return self.function or self.name


def _not_a_reference(spec: str, where: str) -> RewardError:
    near = difflib.get_close_matches(spec, list(BUILTIN_REWARDS), n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return RewardError(
        f"{where}: {spec!r} is neither a built-in reward ({', '.join(BUILTIN_REWARDS)}){hint} nor an import path "
        "('package.module:attribute' or 'package.module.attribute')"
    )


def _is_missing(e: ModuleNotFoundError, module: str) -> bool:
    """Whether ``e`` says that ``module`` itself (or a package above it) does not exist, rather
    than that ``module`` exists and failed to import something of its own."""
    return e.name is not None and (module == e.name or module.startswith(e.name + "."))


def import_object(spec: str, where: str) -> Any:
    """The object an import path names: ``package.module:attribute`` or ``package.module.attribute``
    (the attribute may be dotted). In the dotted form the longest prefix that is an importable
    module is the module. Errors start with ``where`` and name the modules tried."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise _not_a_reference(spec, where)
        splits = [(module_name, attribute)]
    else:
        parts = spec.split(".")
        if len(parts) < 2 or not all(parts):
            raise _not_a_reference(spec, where)
        splits = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    tried = []
    for module_name, attribute in splits:
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if not _is_missing(e, module_name):
                raise RewardError(f"{where}: importing {module_name} failed (ModuleNotFoundError: {e})") from None
            tried.append(module_name)
            continue
        except Exception as e:  # noqa: BLE001 - whatever the module raises while importing is the user's to see
            raise RewardError(f"{where}: importing {module_name} failed ({type(e).__name__}: {e})") from None
        path = module_name
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise RewardError(f"{where}: {path} has no attribute {part!r} (looking for {spec!r})")
            obj, path = getattr(obj, part), f"{path}.{part}"
        return obj
    if len(tried) == 1:
        raise RewardError(f"{where}: cannot import {tried[0]} (no such module)")
    raise RewardError(f"{where}: cannot resolve {spec!r}: none of the modules {', '.join(tried)} exists")


def load_reward(name: str, function: str | None = None, options: Mapping[str, Any] | None = None) -> RewardFunction:
    """The reward component ``name`` (see the module doc): the built-in ``function or name`` made
    by its factory from ``options``, or the object ``function`` imports (called with ``options``
    when it is a class or when options are given)."""
    target = function or name
    options = dict(options or {})
    where = f"reward component {name!r}"
    factory = BUILTIN_REWARDS.get(target)
    if factory is not None:
        try:
            checked = factory.check_options(options, name)
        except ValueError as e:
            raise RewardError(f"reward {e}") from None
        return factory.build(**checked)
    if function is None:
        near = difflib.get_close_matches(name, list(BUILTIN_REWARDS), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise RewardError(
            f"{where}: {name!r} is not a built-in reward ({', '.join(BUILTIN_REWARDS)}){hint}; give the component a "
            "function: a built-in or an import path ('package.module:attribute' or 'package.module.attribute')"
        )
    obj = import_object(target, where)
    if inspect.isclass(obj) or options:
        if not callable(obj):
            raise RewardError(f"{where}: {target} is not callable")
        try:
            obj = obj(**options)
        except TypeError as e:
            raise RewardError(f"{where}: {target}(**options) failed: {e}") from None
    if not callable(obj):
        raise RewardError(f"{where}: {target} is not callable")
    return obj


def load_rewards(
    components: Sequence[RewardComponent], given: Mapping[str, RewardFunction] | None = None
) -> dict[str, RewardFunction]:
    """Every component, by name; ``given`` supplies components built in code (by the names used in
    ``reward.components``). Components built before a failure are closed."""
    out: dict[str, RewardFunction] = {}
    try:
        for c in components:
            out[c.name] = given[c.name] if given and c.name in given else load_reward(c.name, c.function, c.options)
    except BaseException:
        close_rewards(out)
        raise
    return out


def close_rewards(rewards: Mapping[str, Callable]) -> None:
    """Call ``close()`` on every component that has one."""
    for fn in rewards.values():
        close = getattr(fn, "close", None)
        if callable(close):
            close()
