"""Versioned judge prompt templates, each with its strict parser.

A :class:`JudgeTemplate` is the text sent to the judge, the images it expects (always the source
before the edited image when both are shown), and the function that turns the reply into named
scores. Three sets:

* **Training reward** (:func:`reward_template`): editing effect and visual quality, integers
  0–5 each; ``score = (effect + quality) / 2 / 5`` in [0, 1]. Mode ``"text"`` reads the two
  numbers; mode ``"logprobs"`` replaces each by its expected value under the judge's
  top log-probabilities at that token (Edit-R1's "expected score" idea, applied to both lines).
* **GEdit-Bench VIEScore** (:func:`gedit_templates`): ``sc`` shows source + edited and asks for
  two 0–10 scores (edit success, over-editing), ``SC = min``; ``pq`` shows only the edited image
  and asks for naturalness and artifacts, ``PQ = min``. ``O = sqrt(SC·PQ)`` is computed by the
  aggregation, not here.
* **ImgEdit-Bench** (:func:`imgedit_templates`): one rubric per edit type, three criteria scored
  1–5, ``score`` = their mean.

The wording of our templates is our own. For runs that must follow a benchmark's official
protocol word for word, :func:`gedit_templates` and :func:`imgedit_templates` take the path of
the benchmark's own prompt file (GEdit's ``viescore/vie_prompts.py``, read as text with ``ast``
and never executed; ImgEdit's ``prompts.json``); such templates get version
``official-<sha256[:12]>`` so reports and cache keys say exactly which text was used.

Departures from the reference (method.md §d.1): the reference's training prompt asks one 0–5
question; the paper's figure asks two (effect, quality) and averages them, which is what we do.
The reference shows the judge **[edited, source]** although its prompt says "the original and
the edited version"; we always send the source first, as the prompt says.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cocoedit.core.errors import CocoEditError
from cocoedit.judge.parsing import (
    ReplyParseError,
    TokenLogprobs,
    expected_digit_score,
    parse_json_score_list,
    parse_labelled_scores,
    token_at,
)

# "mask_overlay": the source with the edit region tinted (data curation, cocoedit.curation.prompts).
ImageRole = Literal["source", "edited", "mask_overlay"]
RewardMode = Literal["text", "logprobs"]
Parser = Callable[[str, Sequence[TokenLogprobs] | None], dict[str, float]]


class PromptFileError(CocoEditError):
    """An official prompt file is missing or does not hold what is expected."""


class UnknownEditTypeError(CocoEditError):
    """A benchmark sample's edit type has no prompt."""


@dataclass(frozen=True)
class JudgeTemplate:
    """A prompt, the images it is shown with, and the parser of its replies.

    ``text`` contains ``placeholder`` where the instruction goes (templates without an
    instruction, like VIEScore PQ, simply lack it). ``parse(reply_text, tokens)`` returns named
    scores or raises :class:`ReplyParseError`; ``tokens`` are the reply's per-token
    log-probabilities, required when ``needs_logprobs``. ``primary`` names the score that
    summarises the reply. ``text_first``: the message is the text, then the images (as the
    benchmarks' official scripts send it, and as prompts saying "images follow" read); otherwise
    the images come first.
    """

    name: str
    version: str
    text: str
    images: tuple[ImageRole, ...]
    parse: Parser
    primary: str
    placeholder: str = "<instruction>"
    needs_logprobs: bool = False
    text_first: bool = False

    def render(self, instruction: str | None) -> str:
        if self.placeholder in self.text:
            if not instruction:
                raise ValueError(f"template {self.name} needs an instruction")
            return self.text.replace(self.placeholder, instruction)
        return self.text

    @property
    def text_sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def ident(self) -> str:
        """``name@version``, how reports and caches refer to the template."""
        return f"{self.name}@{self.version}"


# --- training reward --------------------------------------------------------------------------

REWARD_LABELS = ("Editing effect", "Visual quality")
REWARD_TEXT = """You will see two images: first the original image, then a version of it edited by an AI model.
The edit was requested with this instruction:
<instruction>

Rate the edited image on two criteria, each with an integer from 0 to 5.
Editing effect: does the edited image carry out the instruction, on the right object or region?
  0 = the edit is missing, wrong, or applied to the wrong thing; 5 = the instruction is fully and precisely carried out.
Visual quality: does the edited image look natural and free of artifacts?
  0 = broken, distorted or implausible; 5 = clean and realistic.

Answer with exactly these two lines and nothing else:
Editing effect: <score>
Visual quality: <score>"""


def _reward_parser(mode: RewardMode) -> Parser:
    def parse(text: str, tokens: Sequence[TokenLogprobs] | None) -> dict[str, float]:
        found = parse_labelled_scores(text, REWARD_LABELS, 2, 0, 5)
        if mode == "logprobs":
            if not tokens:
                raise ReplyParseError("log-probabilities were requested but the reply has none")
            values = [expected_digit_score(token_at(tokens, s.span, text).top, 0, 5) for s in found]
        else:
            values = [float(s.value) for s in found]
        effect, quality = values
        return {"effect": effect, "quality": quality, "score": (effect + quality) / 10.0}

    return parse


def reward_template(mode: RewardMode = "text") -> JudgeTemplate:
    """The CoCoEdit training-reward template; ``score`` is in [0, 1]."""
    if mode not in ("text", "logprobs"):
        raise ValueError(f"reward mode must be 'text' or 'logprobs', got {mode!r}")
    return JudgeTemplate(
        name=f"cocoedit-reward-{mode}",
        version="1",
        text=REWARD_TEXT,
        images=("source", "edited"),
        parse=_reward_parser(mode),
        primary="score",
        needs_logprobs=mode == "logprobs",
    )


# --- GEdit-Bench VIEScore ---------------------------------------------------------------------

GEDIT_SC_TEXT = """You are judging an edit made by an AI image editor. Two images follow: the original first, the edited version second.
Sometimes the edit failed and the two images look the same.

Editing instruction: <instruction>

Give two scores, each from 0 to 10:
1. Edit success: 0 = the edited image does not follow the instruction at all; 10 = it follows the instruction completely.
2. Over-editing: 0 = the edited image has little to do with the original or is badly degraded; 10 = only what the instruction asks for was changed (a minimal yet effective edit).

Reply with one JSON object and nothing else:
{"reasoning": "<one or two short sentences>", "score": [<edit success>, <over-editing>]}"""

GEDIT_PQ_TEXT = """You are judging the quality of an AI-generated image. One image follows.

Give two scores, each from 0 to 10:
1. Naturalness: 0 = the scene looks unnatural (wrong lighting, shadows, perspective or proportions); 10 = it looks like a real, coherent scene.
2. Artifacts: 0 = heavy distortions, blur, noise, watermarks or broken parts; 10 = no visible artifacts.

Reply with one JSON object and nothing else:
{"reasoning": "<one or two short sentences>", "score": [<naturalness>, <artifacts>]}"""


def _vie_parser(first: str, second: str) -> Parser:
    def parse(text: str, tokens: Sequence[TokenLogprobs] | None) -> dict[str, float]:
        a, b = parse_json_score_list(text, 2, 0, 10)
        return {first: a, second: b, "value": min(a, b)}

    return parse


def _gedit_pair(sc_text: str, pq_text: str, version: str) -> dict[str, JudgeTemplate]:
    return {
        "sc": JudgeTemplate(
            "gedit-sc",
            version,
            sc_text,
            ("source", "edited"),
            _vie_parser("success", "overedit"),
            "value",
            text_first=True,
        ),
        "pq": JudgeTemplate(
            "gedit-pq", version, pq_text, ("edited",), _vie_parser("naturalness", "artifacts"), "value", text_first=True
        ),
    }


VIESCORE_PARTS = (
    "_context_no_delimit",
    "_prompts_0shot_two_image_edit_rule",
    "_prompts_0shot_tie_rule_SC",
    "_prompts_0shot_rule_PQ",
)


def _python_string_constants(path: Path) -> dict[str, str]:
    """Module-level ``NAME = "literal"`` assignments of a Python file, without executing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError) as e:
        raise PromptFileError(f"{path}: cannot read as Python source ({e})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _official_version(*texts: str) -> str:
    return "official-" + hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:12]


def gedit_templates(official_prompts: str | Path | None = None) -> dict[str, JudgeTemplate]:
    """VIEScore SC/PQ templates: ours, or those assembled from GEdit's ``vie_prompts.py``.

    The official assembly is ``context + two-image rule + SC rule`` for SC and
    ``context + PQ rule`` for PQ, joined by newlines, as GEdit's ``viescore`` does.
    """
    if official_prompts is None:
        return _gedit_pair(GEDIT_SC_TEXT, GEDIT_PQ_TEXT, "1")
    path = Path(official_prompts)
    if not path.is_file():
        raise PromptFileError(f"{path}: GEdit prompt file not found (expected viescore/vie_prompts.py)")
    consts = _python_string_constants(path)
    missing = [n for n in VIESCORE_PARTS if n not in consts]
    if missing:
        raise PromptFileError(f"{path}: no string constant(s) {', '.join(missing)}")
    context, two_image, sc_rule, pq_rule = (consts[n] for n in VIESCORE_PARTS)
    sc = "\n".join([context, two_image, sc_rule])
    pq = "\n".join([context, pq_rule])
    if "<instruction>" not in sc:
        raise PromptFileError(f"{path}: the SC prompt has no <instruction> placeholder")
    return _gedit_pair(sc, pq, _official_version(sc, pq))


# --- ImgEdit-Bench ----------------------------------------------------------------------------

IMGEDIT_RUBRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "add": (
        ("Instruction compliance", "the requested object is added, with the requested attributes and position"),
        ("Integration", "the new object fits the scene in scale, lighting, perspective and shadows"),
        ("Preservation", "everything the instruction does not mention is unchanged"),
    ),
    "remove": (
        ("Instruction compliance", "the named object is gone entirely, nothing else is removed"),
        ("Fill quality", "the uncovered area is filled plausibly, with no ghost outline or smear"),
        ("Preservation", "everything the instruction does not mention is unchanged"),
    ),
    "replace": (
        ("Instruction compliance", "the named object is replaced by the requested one"),
        ("Integration", "the new object fits the scene in scale, lighting, perspective and shadows"),
        ("Preservation", "everything the instruction does not mention is unchanged"),
    ),
    "alter": (
        ("Instruction compliance", "the requested attribute (colour, material, texture, ...) is changed as asked"),
        ("Seamlessness", "the change looks natural and follows the object's shape and shading"),
        ("Detail fidelity", "the object's identity, structure and fine details survive the change"),
    ),
    "extract": (
        ("Instruction compliance", "the requested object is isolated, and only that object"),
        ("Completeness", "the object is whole, with correct shape and no missing or extra parts"),
        ("Clean isolation", "the background is clean and the object's edges are crisp"),
    ),
    "style": (
        ("Style fidelity", "the image clearly shows the requested style"),
        ("Content preservation", "the scene's layout, objects and identities are still recognisable"),
        ("Rendering quality", "the stylised image is coherent and free of artifacts"),
    ),
    "background": (
        ("Instruction compliance", "the background becomes what the instruction asks for"),
        ("Subject preservation", "the foreground subjects are unchanged and not cut or distorted"),
        ("Blending", "subjects and new background agree in lighting, perspective and edges"),
    ),
    "action": (
        ("Instruction compliance", "the subject performs the requested action or pose"),
        ("Identity preservation", "the subject keeps its identity, clothing and appearance"),
        ("Anatomical plausibility", "the new pose is physically plausible, with no broken limbs"),
    ),
    "compose": (
        ("Instruction compliance", "every part of the multi-step instruction is carried out"),
        ("Visual coherence", "the combined changes look natural together"),
        ("Preservation", "everything the instruction does not mention is unchanged"),
    ),
}
IMGEDIT_TYPE_ALIASES = {"adjust": "alter", "hybrid": "compose"}

IMGEDIT_FRAME = """You are judging an edit made by an AI image editor. Two images follow: the original first, the edited version second.
Edit type: {edit_type}
Editing instruction: <instruction>

Score the edited image on three criteria, each with an integer from 1 (poor) to 5 (excellent):
{criteria}
The second and third scores may not be higher than the first: an image that does not carry out the instruction cannot score well on the rest.

Reply in exactly this format and nothing else:
Reasoning: <at most 20 words>
{answer_lines}"""


def canonical_edit_type(edit_type: str) -> str:
    """ImgEdit edit-type name with aliases resolved (``adjust`` → ``alter``, ``hybrid`` → ``compose``)."""
    t = edit_type.strip().lower()
    return IMGEDIT_TYPE_ALIASES.get(t, t)


def _imgedit_parser(labels: Sequence[str] | None) -> Parser:
    def parse(text: str, tokens: Sequence[TokenLogprobs] | None) -> dict[str, float]:
        found = parse_labelled_scores(text, labels, 3, 1, 5)
        out = {f"c{i + 1}": float(s.value) for i, s in enumerate(found)}
        out["score"] = sum(s.value for s in found) / 3.0
        return out

    return parse


def _our_imgedit_template(edit_type: str) -> JudgeTemplate:
    rubric = IMGEDIT_RUBRICS[edit_type]
    text = IMGEDIT_FRAME.format(
        edit_type=edit_type,
        criteria="\n".join(f"{i + 1}. {name}: {desc}." for i, (name, desc) in enumerate(rubric)),
        answer_lines="\n".join(f"{name}: <score>" for name, _ in rubric),
    )
    labels = [name for name, _ in rubric]
    return JudgeTemplate(
        f"imgedit-{edit_type}", "1", text, ("source", "edited"), _imgedit_parser(labels), "score", text_first=True
    )


def imgedit_templates(official_prompts: str | Path | None = None) -> dict[str, JudgeTemplate]:
    """Edit type → template: ours, or one per entry of ImgEdit's ``prompts.json``.

    Official prompts use the placeholder ``<edit_prompt>``; their replies are parsed as exactly
    three ``Name: N`` lines with N in 1–5 (the criteria's names vary per type).
    """
    if official_prompts is None:
        return {t: _our_imgedit_template(t) for t in IMGEDIT_RUBRICS}
    path = Path(official_prompts)
    if not path.is_file():
        raise PromptFileError(f"{path}: ImgEdit prompt file not found (expected prompts.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise PromptFileError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
        raise PromptFileError(f"{path}: expected a JSON object mapping edit type to prompt text")
    out = {}
    for edit_type, text in data.items():
        if "<edit_prompt>" not in text:
            raise PromptFileError(f"{path}: prompt for {edit_type!r} has no <edit_prompt> placeholder")
        out[canonical_edit_type(edit_type)] = JudgeTemplate(
            f"imgedit-{canonical_edit_type(edit_type)}",
            _official_version(text),
            text,
            ("source", "edited"),
            _imgedit_parser(None),
            "score",
            placeholder="<edit_prompt>",
            text_first=True,  # ImgEdit's basic_bench.py: the prompt, then the source, then the edited image
        )
    return out


def imgedit_template_for(templates: Mapping[str, JudgeTemplate], edit_type: str) -> JudgeTemplate:
    """The template of an edit type, with a clear error for an unknown type."""
    t = canonical_edit_type(edit_type)
    if t not in templates:
        raise UnknownEditTypeError(
            f"no ImgEdit prompt for edit type {edit_type!r}; known types: {', '.join(sorted(templates))}"
        )
    return templates[t]
