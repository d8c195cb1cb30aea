"""In-process transformers judge: a tiny random Qwen2.5-VL built offline, saved and reloaded.

Its replies are random tokens, so they never parse: this drives the failure path end to end
(backend -> Judge -> MLLMReward validity flags) without a server or a download.
"""

import json

import pytest
import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from cocoedit.core.qwen_processor import Qwen2VLImageOnlyProcessor
from cocoedit.judge.config import EndpointConfig
from cocoedit.judge.local import TransformersJudgeBackend
from cocoedit.judge.prompts import REWARD_TEXT
from cocoedit.rewards.mllm import MLLMReward, MLLMRewardConfig

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% for c in m.content %}"
    "{% if c.type == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c.text }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer():
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.train_from_iterator(
        [REWARD_TEXT, "user assistant system"] * 2,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    m = json.loads(tok.to_str())["model"]
    return Qwen2Tokenizer(
        vocab=m["vocab"],
        merges=[tuple(x) for x in m["merges"]],
        additional_special_tokens=SPECIALS[1:],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )


@pytest.fixture(scope="module")
def tiny_judge_dir(tmp_path_factory):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    processor = Qwen2VLImageOnlyProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    ids = {
        k: tokenizer.convert_tokens_to_ids(t)
        for k, t in [
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        ]
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "vocab_size": len(tokenizer),
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": None,
        },
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        vocab_size=len(tokenizer),
        **ids,
    )
    path = tmp_path_factory.mktemp("tiny-qwen25vl-judge")
    Qwen2_5_VLForConditionalGeneration(config).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_tiny_judge_replies_and_fails_to_parse_end_to_end(tiny_judge_dir):
    backend_holder = {}

    def factory():
        backend_holder["b"] = TransformersJudgeBackend.from_pretrained(
            tiny_judge_dir, dtype=torch.float32, max_image_side=56
        )
        return backend_holder["b"]

    from cocoedit.judge.config import SamplingConfig

    reward = MLLMReward(
        MLLMRewardConfig(
            endpoint=EndpointConfig(model="local"),
            sampling=SamplingConfig(max_tokens=6),
            parse_retries=1,
            check_health=False,
        ),
        factory,
    )
    try:
        batch = reward(torch.rand(2, 3, 40, 40), torch.rand(2, 3, 40, 40), ["make it red", "add a hat"])
    finally:
        reward.close()
    assert batch.valid.tolist() == [False, False] and torch.isnan(batch.scores).all()
    assert {o.reason for o in batch.outcomes} == {"unparsable"}
    assert all(o.attempts == 2 and o.text is not None for o in batch.outcomes)
    assert backend_holder["b"].model_id == tiny_judge_dir.name


def test_tiny_judge_gives_top_logprobs_and_reports_unparsable_replies(tiny_judge_dir):
    import asyncio

    from cocoedit.judge.config import SamplingConfig
    from cocoedit.judge.images import JudgeImage

    backend = TransformersJudgeBackend.from_pretrained(tiny_judge_dir, dtype=torch.float32, max_image_side=56)
    image = JudgeImage.from_tensor(torch.rand(3, 40, 40))
    reply = asyncio.run(backend.complete("rate it", [image, image], SamplingConfig(max_tokens=4, top_logprobs=3)))
    assert reply.tokens is not None and 1 <= len(reply.tokens) <= 4
    assert all(len(t.top) >= 1 and max(t.top.values()) <= 0.0 for t in reply.tokens)
    config = MLLMRewardConfig(
        endpoint=EndpointConfig(model="local"),
        sampling=SamplingConfig(max_tokens=3),
        parse_retries=0,
        check_health=False,
    )
    with MLLMReward(config, lambda: backend) as reward:
        batch = reward(torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40), ["x"])
    assert batch.failure_reasons() == ["unparsable"]
