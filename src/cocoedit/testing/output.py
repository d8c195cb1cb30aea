"""What the libraries under cocoedit print when they are not told to be quiet: the lines a test of
a command's output looks for (``cocoedit --verbose`` shows them; without it none may appear)."""

from __future__ import annotations

import re

#: One pattern per known kind of third-party noise.
THIRD_PARTY_NOISE = {
    "transformers' torchvision fallback notice": r"requires torchvision \(not installed\)",
    "transformers' log prefix": r"^\[transformers\]",
    "diffusers' AutoencoderKL dtype-cast notice": r"should be kept in float32",
    "diffusers' T5/CLIP truncation notice": r"part of your input was truncated",
    "a tokenizer's sequence-length notice": r"Token indices sequence length is longer",
    "a tqdm progress bar": r"\d+/\d+ \[\d\d:\d\d<|it/s\]|s/it\]",
    "diffusers' pipeline-loading bar": r"Loading pipeline components",
    "transformers' weight-loading bar": r"Loading weights",
    "a Python warning": r"\b\w*Warning: ",
}


def third_party_noise(text: str) -> list[str]:
    """``"kind: line"`` for every line of ``text`` that matches :data:`THIRD_PARTY_NOISE`."""
    found = []
    for line in text.splitlines():
        for kind, pattern in THIRD_PARTY_NOISE.items():
            if re.search(pattern, line):
                found.append(f"{kind}: {line.strip()[:200]}")
                break
    return found
