"""Versioned VLM templates for data curation: grounding boxes, instruction refinement, filtering.

They are :class:`~cocoedit.judge.prompts.JudgeTemplate` objects so that they go through
the same :class:`~cocoedit.judge.evaluate.Judge` as the rewards: strict parsing, parse retries,
and the SQLite reply cache keyed by template version and text (a re-run of a build asks nothing
twice; a changed template text asks again). A judge template returns named numbers; grounding
and refinement produce boxes and text, so their parsers validate the reply and return counts,
and the build reads the boxes / the rewrite from the reply text with the same strict functions
(:func:`~cocoedit.curation.annotate.parse_box_reply`, :func:`parse_refined_instruction`).

The reference released no curation prompts (method.md §f.1): the wording here is ours.
"""

from __future__ import annotations

from cocoedit.curation.annotate import BoxCoordinates, parse_box_reply
from cocoedit.judge.parsing import ReplyParseError, json_object, parse_labelled_scores
from cocoedit.judge.prompts import JudgeTemplate

MAX_BOXES = 8
REFINE_MAX_WORDS = 60
FILTER_CRITERIA = ("Instruction clarity", "Mask accuracy", "Target prominence")
#: The score names the filter template returns, in the order of FILTER_CRITERIA.
FILTER_KEYS = ("clarity", "mask_accuracy", "prominence")

_COORDINATE_TEXT = {
    "norm1000": "on a 0-1000 scale of the image's width (x) and height (y)",
    "norm1": "as fractions 0-1 of the image's width (x) and height (y)",
}

GROUNDING_PAIR_TEXT = """Two images follow: the original image first, then a version of it edited with this instruction:
<instruction>

Find, on the ORIGINAL image, the region that the edit changes: the object(s) the instruction modifies, removes, replaces or moves, or the place where something is added.
Give one bounding box per object, at most {max_boxes}, as [x0, y0, x1, y1] (left, top, right, bottom) {coordinates}.
If nothing in the image matches, give an empty list.

Reply with one JSON object and nothing else:
{{"boxes": [[x0, y0, x1, y1], ...]}}"""

GROUNDING_SINGLE_TEXT = """One image follows. It is to be edited with this instruction:
<instruction>

Find the region that the edit will change: the object(s) the instruction modifies, removes, replaces or moves, or the place where something is to be added.
Give one bounding box per object, at most {max_boxes}, as [x0, y0, x1, y1] (left, top, right, bottom) {coordinates}.
If nothing in the image matches, give an empty list.

Reply with one JSON object and nothing else:
{{"boxes": [[x0, y0, x1, y1], ...]}}"""

REFINE_TEXT = f"""One image follows. It is to be edited with this instruction:
<instruction>

Rewrite the instruction so that it says where the edited object is (e.g. "on the left", "in the foreground", "next to the door") and what it looks like (colour, size, material), so that nobody could pick the wrong object.
Keep the original intent exactly: the same edit of the same object; add nothing the original does not ask for and drop nothing it asks for.
Write one sentence of at most {REFINE_MAX_WORDS} words.

Reply with one JSON object and nothing else:
{{"instruction": "<the rewritten instruction>"}}"""

FILTER_TEXT = """Two images follow: the original image, then the same image with the region to be edited tinted red.
The editing instruction is:
<instruction>

Rate each criterion with an integer from 1 to 5.
Instruction clarity: is it unambiguous what to change and where? 1 = unclear or contradictory; 5 = perfectly clear.
Mask accuracy: does the red region cover what the instruction changes, without missing parts or much else? 1 = wrong place; 5 = exact.
Target prominence: is the edit target clearly visible and large enough to edit? 1 = invisible or tiny; 5 = prominent.

Answer with exactly these three lines and nothing else:
Instruction clarity: <score>
Mask accuracy: <score>
Target prominence: <score>"""


def grounding_template(with_target: bool, coordinates: BoxCoordinates) -> JudgeTemplate:
    """The grounding template (source + target when the sample has a target, else source only)."""
    text = (GROUNDING_PAIR_TEXT if with_target else GROUNDING_SINGLE_TEXT).format(
        max_boxes=MAX_BOXES, coordinates=_COORDINATE_TEXT[coordinates]
    )

    def parse(reply: str, tokens) -> dict[str, float]:
        boxes = parse_box_reply(reply, MAX_BOXES, coordinates)
        return {"boxes": float(len(boxes))}

    return JudgeTemplate(
        name=f"curation-grounding-{'pair' if with_target else 'single'}-{coordinates}",
        version="1",
        text=text,
        images=("source", "edited") if with_target else ("source",),
        parse=parse,
        primary="boxes",
        text_first=True,  # the prompt says the images follow
    )


def parse_refined_instruction(text: str) -> str:
    """The rewrite of a refinement reply ``{"instruction": "..."}``: one non-empty line of at most
    :data:`REFINE_MAX_WORDS` words; anything else raises :class:`ReplyParseError`."""
    obj = json_object(text)
    if set(obj) != {"instruction"}:
        raise ReplyParseError(f"the reply's JSON must have exactly the key 'instruction', got {sorted(obj)}")
    value = obj["instruction"]
    if not isinstance(value, str) or not value.strip():
        raise ReplyParseError("'instruction' is not a non-empty string")
    value = value.strip()
    if "\n" in value:
        raise ReplyParseError("'instruction' spans several lines")
    words = len(value.split())
    if words > REFINE_MAX_WORDS:
        raise ReplyParseError(f"'instruction' has {words} words, more than {REFINE_MAX_WORDS}")
    return value


def refine_template() -> JudgeTemplate:
    def parse(reply: str, tokens) -> dict[str, float]:
        return {"words": float(len(parse_refined_instruction(reply).split()))}

    return JudgeTemplate("curation-refine", "1", REFINE_TEXT, ("source",), parse, "words", text_first=True)


def filter_template() -> JudgeTemplate:
    def parse(reply: str, tokens) -> dict[str, float]:
        found = parse_labelled_scores(reply, FILTER_CRITERIA, 3, 1, 5)
        scores = {key: float(s.value) for key, s in zip(FILTER_KEYS, found, strict=True)}
        return {**scores, "min": min(scores.values())}

    return JudgeTemplate("curation-filter", "1", FILTER_TEXT, ("source", "mask_overlay"), parse, "min", text_first=True)
