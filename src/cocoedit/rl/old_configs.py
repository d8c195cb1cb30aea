"""Training configs in the spellings of earlier versions, read as today's.

:func:`upgrade_old_spellings` maps a config dict's old keys to the new ones and says, in one line
per old spelling, how it read them:

* ``train.logger: X`` -> ``train.report_to: [X]`` (``none`` -> ``[]``);
* the three maps by component name ``reward.weights``, ``reward.functions`` and ``reward.options``
  -> ``reward.components``, one entry per component (an old config without ``reward.weights``
  had the weights judge 0.8, pixel 0.2);
* ``reward.pixel`` -> the options of the pixel component(s);
* the top-level ``judge`` section -> the options of the judge component(s).

In an old config, a component's own options (``reward.options``) win over the folded section;
a config with today's ``reward.components`` and an old section is refused (the section would be
ignored). The run folder's ``config.yaml`` of a run
started by an earlier version is read the same way, so such a run resumes.
"""

from __future__ import annotations

from typing import Any

#: reward.weights of an old config that gave none.
OLD_DEFAULT_WEIGHTS = {"judge": 0.8, "pixel": 0.2}
OLD_REWARD_MAPS = ("weights", "functions", "options")


def _mapping(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a mapping of component name to value, not {value!r}")
    return value


def _components_from_maps(reward: dict) -> list[dict[str, Any]]:
    weights = _mapping(reward.get("weights", OLD_DEFAULT_WEIGHTS), "reward.weights")
    functions = _mapping(reward.get("functions", {}), "reward.functions")
    options = _mapping(reward.get("options", {}), "reward.options")
    unweighted = sorted(map(str, (set(functions) | set(options)) - set(weights)))
    if unweighted:
        raise ValueError(f"reward.functions / reward.options name {unweighted}, which reward.weights does not weigh")
    components = []
    for name, weight in weights.items():
        entry: dict[str, Any] = {"name": name}
        if name in functions:
            entry["function"] = functions[name]
        entry["weight"] = weight
        if name in options:
            entry["options"] = options[name]
        components.append(entry)
    return components


def _fold(components: list, builtin: str, section: dict, where: str) -> str:
    """Put ``section`` under the options of every component that is the built-in ``builtin``."""
    folded = []
    for i, c in enumerate(components):
        if isinstance(c, dict) and (c.get("function") or c.get("name")) == builtin:
            own = c.get("options") or {}
            components[i] = {**c, "options": {**section, **own} if isinstance(own, dict) else own}
            folded.append(str(c.get("name")))
    if not folded:
        return f"{where} is the old place of the {builtin} reward's settings, and no component is that reward: unused"
    names = ", ".join(folded)
    return f"{where} is the old place of the {builtin} reward's settings: read as reward component {names}'s options"


def _describe(components: list) -> str:
    parts = []
    for c in components:
        if isinstance(c, dict):
            function = f" = {c['function']}" if c.get("function") else ""
            parts.append(f"{c.get('name')}{function} {c.get('weight', 1.0)}")
    return ", ".join(parts)


def upgrade_old_spellings(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with every old spelling rewritten (see the module doc; ``data`` is not modified),
    and a one-line notice per old spelling found. :class:`ValueError` for a config that mixes an
    old spelling with its new one."""
    data = dict(data)
    notices = []
    train = data.get("train")
    if isinstance(train, dict) and "logger" in train:
        if "report_to" in train:
            raise ValueError("train.logger is the old name of train.report_to: give report_to only")
        train = dict(train)
        old = train.pop("logger")
        train["report_to"] = [] if old == "none" else [old] if isinstance(old, str) else old
        data["train"] = train
        notices.append(f"train.logger is the old name of train.report_to: read as report_to: {train['report_to']}")

    judge = data.pop("judge", None)  # a run folder's config.yaml of an earlier version has judge: null
    reward = data.get("reward")
    if reward is None and judge is not None:
        reward = {}
    if not isinstance(reward, dict):
        return data, notices
    reward = dict(reward)
    old_maps = [k for k in OLD_REWARD_MAPS if k in reward]
    pixel = reward.pop("pixel", None)
    if "components" in reward:
        if old_maps:
            raise ValueError(
                f"reward.components and the old reward.{'/'.join(old_maps)} describe the same components: "
                "give reward.components only (one entry per component)"
            )
        # With today's components, an old section (often a --set judge.endpoint...=) would be folded
        # under the component's own options and lose to them: refuse it rather than ignore it.
        for old_key, section, builtin in (("judge", judge, "judge"), ("reward.pixel", pixel, "pixel")):
            if section is not None:
                first = next(iter(section), "...") if isinstance(section, dict) else "..."
                raise ValueError(
                    f"{old_key} is the old place of the {builtin} reward's settings and this config has "
                    f"reward.components: give them as the component's options "
                    f"(reward.components.{builtin}.options.{first}...)"
                )
    elif old_maps or pixel is not None or judge is not None:
        reward["components"] = _components_from_maps(reward)
        for key in old_maps:
            del reward[key]
        what = f"reward.{'/'.join(old_maps)} {'are' if len(old_maps) > 1 else 'is'}" if old_maps else "an old reward"
        notices.append(
            f"{what} the old form of reward.components (one entry per component: name, function, weight, "
            f"options; docs/training.md): read as the components {_describe(reward['components'])}"
        )
    components = reward.get("components")
    if isinstance(components, list):
        components = list(components)
        if pixel is not None:
            notices.append(_fold(components, "pixel", _mapping(pixel, "reward.pixel"), "reward.pixel"))
        if judge is not None:
            notices.append(_fold(components, "judge", _mapping(judge, "judge"), "the top-level judge section"))
        reward["components"] = components
    data["reward"] = reward
    return data, notices
