"""The one HTTP-status policy for OpenAI-compatible servers, on plain values."""

from __future__ import annotations

import pytest

from xling.core.errors import ServerRefusedError, ServiceUnavailableError
from xling.core.http_replies import (
    MalformedReply,
    get_field,
    raise_for_reply,
    reply_error,
    server_message,
)

URL = "http://h:1/v1/x"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": {"message": "bad  key"}}', "bad key"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"error": "quota"}', "quota"),
        ('{"message": "m"}', "m"),
        ("<html>\n 502 </html>", "<html> 502 </html>"),
        ("", "(empty body)"),
    ],
)
def test_the_server_message_is_read_from_common_error_bodies(body: str, message: str) -> None:
    assert server_message(body) == message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (302, None),
        (400, ServerRefusedError),
        (401, ServerRefusedError),
        (403, ServerRefusedError),
        (404, ServerRefusedError),
        (422, ServerRefusedError),
        (408, ServiceUnavailableError),
        (429, ServiceUnavailableError),
        (500, ServiceUnavailableError),
        (503, ServiceUnavailableError),
    ],
)
def test_each_status_maps_to_one_error(status: int, kind: type | None) -> None:
    error = reply_error(URL, status, '{"detail": "d"}', what="LLM endpoint")
    assert (None if error is None else type(error)) is kind


def test_messages_name_the_url_status_and_server_words() -> None:
    with pytest.raises(ServerRefusedError) as refused:
        raise_for_reply(URL, 404, '{"error": {"message": "no model m"}}', what="LLM endpoint")
    assert str(refused.value) == (
        "LLM endpoint http://h:1/v1/x refused the request with HTTP 404: no model m"
    )
    assert refused.value.exit_code == 5
    with pytest.raises(ServiceUnavailableError) as failed:
        raise_for_reply(URL, 502, "bad gateway", what="embeddings endpoint")
    assert str(failed.value) == (
        "embeddings endpoint http://h:1/v1/x failed (HTTP 502: bad gateway); check that the "
        "server is running and not overloaded"
    )


def test_fields_are_checked_by_type() -> None:
    assert get_field({"n": 3}, "n", int, "the answer") == 3
    assert get_field({}, "n", int, "the answer", optional=True) is None
    for obj, problem in [
        ([], "the answer is list, not an object"),
        ({}, "the answer has no 'n'"),
        ({"n": True}, "the answer.n is bool"),
        ({"n": "3"}, "the answer.n is str"),
    ]:
        with pytest.raises(MalformedReply, match=f"^{problem}$"):
            get_field(obj, "n", int, "the answer")
