"""Demo settings: presets, overrides from YAML, clear errors, and the base editor's cache key."""

import pytest

from cocoedit.demo.settings import QUICK, DemoSettingsError, arms, load_demo_settings


def test_quick_preset_shrinks_every_stage():
    full, quick = load_demo_settings(), load_demo_settings(quick=True)
    assert quick.task.train == QUICK["task"]["train"] < full.task.train
    assert quick.base.steps < full.base.steps
    assert quick.rl.epochs < full.rl.epochs
    assert len(quick.seeds) >= 2  # the report shows a spread even in CI


def test_yaml_overrides_nested_keys_on_top_of_the_preset(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text("rl:\n  epochs: 5\nseeds: [3]\n")
    settings = load_demo_settings(path, quick=True)
    assert settings.rl.epochs == 5
    assert settings.rl.group_size == QUICK["rl"]["group_size"]  # the rest of the preset stays
    assert settings.seeds == [3]


@pytest.mark.parametrize(
    "text, words",
    [
        ("rl:\n  epoch: 5\n", ["rl.epoch", "unknown key"]),
        ("task:\n  size: 30\n", ["task.size", "multiple of 4"]),
        ("seeds: []\n", ["seeds"]),
        ("- 1\n", ["top level"]),
    ],
)
def test_bad_settings_name_the_key(tmp_path, text, words):
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    with pytest.raises(DemoSettingsError) as e:
        load_demo_settings(path)
    assert str(path) in str(e.value)
    for word in words:
        assert word in str(e.value)


def test_base_key_follows_what_changes_the_base_editor_only(tmp_path):
    settings = load_demo_settings(quick=True)
    same = settings.model_copy(update={"rl": settings.rl.model_copy(update={"epochs": 99}), "seeds": [7]})
    assert same.base_key() == settings.base_key()
    for changed in (
        settings.model_copy(update={"base": settings.base.model_copy(update={"steps": 7})}),
        settings.model_copy(update={"task": settings.task.model_copy(update={"seed": 1})}),
    ):
        assert changed.base_key() != settings.base_key()


def test_the_arms_differ_only_in_rewards_regularizers_credit_and_exploration():
    every = {a.name: a for a in arms(load_demo_settings(), every=True)}
    a, b, c, d, e, f = (
        every[n] for n in ("judge", "judge_pixel", "cocoedit", "cocoedit_corrected", "region", "region_explore")
    )
    assert [x.name for x in arms(load_demo_settings())] == ["judge", "cocoedit", "region", "region_explore"]
    assert a.weights == {"edit_judge": 1.0} and not a.regularized and a.credit is None
    assert set(b.weights) == {"edit_judge", "pixel"} and not b.regularized
    assert c.weights == b.weights and c.regularizer["edit_term"] == "reference"
    assert d.weights == b.weights and d.regularizer["edit_term"] == "push_positive"
    differing = {k for k in c.regularizer.keys() | d.regularizer.keys() if c.regularizer.get(k) != d.regularizer.get(k)}
    assert differing == {"edit_term", "edit_distance", "tau_neg"}
    # (e) is (c) with region credit; (f) is (e) with localized initial noise.
    assert e.weights == c.weights and e.regularizer == c.regularizer and e.sampling is None
    assert e.credit["assignment"] == "region"
    assert e.credit["edit_rewards"] == ["edit_judge"] and e.credit["keep_rewards"] == ["pixel"]
    assert e.credit["ring_radius"] == 0
    assert (f.weights, f.regularizer, f.credit) == (e.weights, e.regularizer, e.credit)
    assert f.sampling == {"initial_noise": "localized", "edit_noise_scale": 1.0}


def test_an_ablation_runs_a_subset_of_arms_with_its_own_regularizer_settings(tmp_path):
    path = tmp_path / "ablation.yaml"
    path.write_text("arms: [cocoedit_corrected, cocoedit]\nrl:\n  lambda_ner: 0.3\n  positive_target: sample\n")
    selected = arms(load_demo_settings(path))
    assert [a.name for a in selected] == ["cocoedit", "cocoedit_corrected"]  # report order
    assert all(a.regularizer["lambda_ner"] == 0.3 and a.regularizer["positive_target"] == "sample" for a in selected)
    path.write_text("arms: [edit_r1]\n")
    with pytest.raises(DemoSettingsError, match="arms"):
        load_demo_settings(path)


def test_quick_is_labelled_a_plumbing_check():
    assert load_demo_settings(quick=True).plumbing_check is True
    assert load_demo_settings().plumbing_check is False


def test_every_setting_is_documented():
    from pathlib import Path

    from cocoedit.demo.settings import DemoSettings

    doc = (Path(__file__).parents[2] / "docs" / "demo.md").read_text()
    keys = []
    for name, field in DemoSettings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            keys += [f"{name}.{sub}" for sub in section.model_fields]
        else:
            keys.append(name)
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"keys missing from docs/demo.md: {missing}"


def test_base_settings_become_the_sft_config():
    settings = load_demo_settings()
    config = settings.sft_config()
    assert (config.size, config.steps, config.conditioning, config.prediction) == (
        settings.task.size,
        settings.base.steps,
        "channels",
        "source_residual",
    )
