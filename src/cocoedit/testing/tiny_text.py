"""Tokenizers and chat templates of the tiny offline pipelines, built in code (no hub).

Vocabularies come from a small corpus of edit instructions plus the system prompts the pipelines
wrap them in, so that templates tokenise to a realistic number of tokens (the Qwen-Image-Edit
template prefix is exactly the 64 tokens the pipelines drop, as with the real tokenizer).
"""

from __future__ import annotations

import json
import math
import re
import string

# The system prompts of FLUX.2 [dev] and Qwen-Image-2.1 (as the diffusers pipelines write them):
# in the corpus so that they tokenise to a few tokens each.
FLUX2_SYSTEM_MESSAGE = (
    "You are an AI that reasons about image descriptions. You give structured responses focusing on object "
    "relationships, object\nattribution and actions without speculation."
)
QWEN_IMAGE_21_SYSTEM_PROMPT = "Comprehend and analyze the provided prompt."

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The Qwen edit system prompt is in the corpus so that its tokenisation has the real length (64).
_QWEN_SYSTEM_PROMPT = (
    "Describe the key features of the input image (color, shape, size, texture, objects, background), "
    "then explain how the user's text instruction should alter or modify the image. Generate a new "
    "image that meets the user's requirements while maintaining consistency with the original input "
    "where appropriate."
)
CORPUS = [
    "make the sky blue",
    "turn the cat into a dog",
    "remove the car from the street",
    "add a red hat to the person",
    "change the background to a beach at sunset",
    "replace the apple with an orange",
    "make the coffee cup green",
    "put sunglasses on the astronaut",
    "Picture 1: describe the image",
    _QWEN_SYSTEM_PROMPT,
    "system\nuser\nassistant\n system user assistant",
] * 4
#: The corpus of the FLUX.2 and Qwen-Image-2.1 tokenizers: also their system prompts. (The older
#: tiny models keep :data:`CORPUS`, so that their vocabularies, and so their weights, stay as built.)
CORPUS_2026 = (*CORPUS, *[FLUX2_SYSTEM_MESSAGE, QWEN_IMAGE_21_SYSTEM_PROMPT] * 4)


def corpus_words() -> list[str]:
    """The corpus's lowercase words (letters only), sorted."""
    return sorted({w for line in CORPUS for w in re.findall(r"[a-z]+", line.lower())})


def clip_tokenizer():
    """A CLIP (byte-level BPE, ``</w>`` word ends) tokenizer whose merges spell the corpus words.

    Vocabulary and merges are written out rather than trained (the BPE trainer breaks ties
    differently from run to run), so two builds tokenise identically. Unknown words fall back to
    single bytes.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in alphabet + [c + "</w>" for c in alphabet]:
        vocab[token] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in corpus_words():
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        left = pieces[0]
        for right in pieces[1:]:
            merged = left + right
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((left, right))
            left = merged
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def t5_tokenizer():
    """A T5 (Unigram) tokenizer over the corpus's words and characters.

    The vocabulary is written out rather than trained: tokenizers' Unigram trainer is
    multi-threaded and not reproducible, and two builds must tokenise identically.
    """
    from collections import Counter

    from transformers import T5Tokenizer

    words = Counter(w for line in CORPUS for w in line.split())
    chars = sorted(
        {c for w in words for c in w} | set(string.ascii_letters + string.digits + string.punctuation) | {"▁"}
    )
    total = sum(words.values())
    # pad = 0, eos = 1, unk = 2, as in T5; whole words score higher than spelling them out.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + w, math.log(n / total)) for w, n in sorted(words.items())]
    vocab += [(c, -20.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=512)


def qwen2_tokenizer(
    vocab_size: int = 1000, special_tokens: tuple[str, ...] = QWEN_SPECIAL_TOKENS, corpus: tuple[str, ...] = ()
):
    """A Qwen2 byte-level BPE tokenizer trained on ``corpus`` (default :data:`CORPUS`)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
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
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus) or CORPUS, trainer)
    model = json.loads(tok.to_str())["model"]
    return Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m) for m in model["merges"]],
        model_max_length=32768,
        additional_special_tokens=list(special_tokens[1:]),
    )


#: Qwen3's special tokens: Qwen2's plus the thinking markers its chat template writes.
QWEN3_SPECIAL_TOKENS = (*QWEN_SPECIAL_TOKENS, "<think>", "</think>")

#: Qwen3's chat template, reduced to what FLUX.2 [klein] uses: one user turn and the generation
#: prompt, with the empty thinking block ``enable_thinking=False`` asks for.
QWEN3_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)

#: Qwen3-VL's chat template, reduced to system/user turns whose content is a string or a list of
#: text and image parts (Qwen-Image-2.1 tokenises its system message with it).
QWEN3_VL_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}"
    "{% else %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

MISTRAL_SPECIAL_TOKENS = (
    "<unk>",
    "<s>",
    "</s>",
    "<pad>",
    "[INST]",
    "[/INST]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[IMG]",
    "[IMG_BREAK]",
    "[IMG_END]",
)

#: Mistral Small 3.1's chat template, reduced to what FLUX.2 [dev] uses: a system turn and user
#: turns whose content is a list of text parts.
MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% set text = m['content'] if m['content'] is string "
    "else m['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') %}"
    "{% if m['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{% else %}[INST]{{ text }}[/INST]{% endif %}{% endfor %}"
)


def qwen3_tokenizer():
    """A Qwen3 tokenizer (Qwen2's byte-level BPE with the thinking markers) with its chat template."""
    tokenizer = qwen2_tokenizer(special_tokens=QWEN3_SPECIAL_TOKENS, corpus=CORPUS_2026)
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    return tokenizer


def mistral_tokenizer(vocab_size: int = 1000):
    """A byte-level BPE tokenizer with Mistral's special tokens and a reduced chat template; FLUX.2
    [dev] reads it where the real checkpoint has its Pixtral processor (only the text path is used)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(MISTRAL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(CORPUS_2026), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=list(MISTRAL_SPECIAL_TOKENS[4:]),
        model_max_length=131072,
        chat_template=MISTRAL_CHAT_TEMPLATE,
    )
