"""What every stop on failed samples adds to the counts: the last explanation of a failure other
than an unparsable reply, and the first unparsable reply (a reason ending in ``unparsable``), each
on one line of at most 300 characters and each only when there is one."""

from cocoedit.core.errors import explain_failures


def test_last_explanation_and_first_unparsable_reply_by_reason_suffix():
    failures = [
        ("grounding_http_500", "HTTP 500: first"),
        ("grounding_unparsable", "no boxes; reply: 'hmm'"),
        ("filter_timeout", "no reply\n  within 2 s"),
        ("refine_unparsable", "no JSON; reply: 'later'"),
        ("unreadable_image", None),
    ]
    assert explain_failures(failures) == (
        ". Last explanation: no reply within 2 s; one unparsable reply: no boxes; reply: 'hmm'"
    )


def test_each_part_only_when_there_is_one_and_long_text_is_cut():
    assert explain_failures([]) == ""
    assert explain_failures([("timeout", None)]) == ""
    assert explain_failures([("unparsable", "x")]) == ". One unparsable reply: x"
    long = explain_failures([("http_500", "a" * 400)])
    assert long == ". Last explanation: " + "a" * 299 + "…"
