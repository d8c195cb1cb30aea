"""The one tiny training config of the trainer tests: sections merge key by key into it, lists are
replaced, an old-form reward section replaces the components, and what comes out loads."""

from cocoedit.rl.config import load_config
from cocoedit.testing.trainer import tiny_training_config


def test_sections_merge_key_by_key_and_the_result_loads(tmp_path):
    config = tiny_training_config(
        tmp_path / "model",
        tmp_path / "manifest.jsonl",
        model={"backbone_options": {"extra": 1}},
        train={"epochs": 3},
        reward={"components": [{"name": "edit_judge"}]},
    )
    assert config["model"]["backbone_options"] == {"max_sequence_length": 48, "extra": 1}
    assert config["model"]["path"] == str(tmp_path / "model") and config["model"]["lora_rank"] == 4
    assert config["train"] == {"epochs": 3, "report_to": []}
    assert config["reward"] == {"components": [{"name": "edit_judge"}]}
    loaded = load_config(None, [], base=config)
    assert (loaded.model.height, loaded.sampling.group_size, loaded.reward.weights) == (64, 2, {"edit_judge": 1.0})


def test_an_old_form_reward_replaces_the_components_and_the_kind_picks_the_options():
    config = tiny_training_config(kind="qwen-image-edit-plus", reward={"weights": {"pixel": 0.5, "edit_judge": 0.5}})
    assert config["reward"] == {"weights": {"pixel": 0.5, "edit_judge": 0.5}}
    assert config["model"]["backbone_options"] == {"condition_area": 56 * 56}
    assert load_config(None, [], base=config).reward.weights == {"pixel": 0.5, "edit_judge": 0.5}
