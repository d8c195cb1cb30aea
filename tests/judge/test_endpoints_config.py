"""``judge.endpoints``: one base URL or a list of replicas; refused when empty, repeated, not a URL,
or when ``endpoint.base_url`` names another server."""

import pytest
from pydantic import ValidationError

from cocoedit.judge.config import EndpointConfig, JudgeConfig


def test_one_url_or_a_list_or_the_endpoints_own():
    endpoint = EndpointConfig(model="m")
    assert JudgeConfig(endpoint=endpoint).base_urls() == ["http://127.0.0.1:8000/v1"]
    assert JudgeConfig(endpoint=endpoint, endpoints="http://a:8000/v1").base_urls() == ["http://a:8000/v1"]
    both = JudgeConfig(endpoint=endpoint, endpoints=["http://a:8000/v1", "https://b/v1"])
    assert both.base_urls() == ["http://a:8000/v1", "https://b/v1"]
    same = EndpointConfig(model="m", base_url="http://a:8000/v1")
    assert JudgeConfig(endpoint=same, endpoints=["http://a:8000/v1", "http://b/v1"]).base_urls()[1] == "http://b/v1"


@pytest.mark.parametrize(
    ("endpoints", "base_url", "message"),
    [
        ([], None, "at least one base URL"),
        (["http://a/v1", "http://a/v1"], None, "http://a/v1 is listed twice"),
        (["a:8000/v1"], None, "'a:8000/v1' is not an http"),
        (["http://a/v1"], "http://elsewhere/v1", r"endpoint.base_url \(http://elsewhere/v1\) and endpoints"),
    ],
)
def test_bad_endpoint_lists_are_refused_by_name(endpoints, base_url, message):
    endpoint = {"model": "m", **({"base_url": base_url} if base_url else {})}
    with pytest.raises(ValidationError, match=message):
        JudgeConfig.model_validate({"endpoint": endpoint, "endpoints": endpoints})
