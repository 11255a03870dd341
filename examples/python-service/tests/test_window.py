"""Pure functions: no server needed."""

import pytest

from tollgate import Decision, window_key


def test_the_window_changes_at_its_boundary():
    assert window_key("k1", 60, 119.9) == "tollgate:k1:1"
    assert window_key("k1", 60, 120.0) == "tollgate:k1:2"


@pytest.mark.parametrize("client", ["", "two words", "tab\there"])
def test_a_client_id_is_one_word(client):
    with pytest.raises(ValueError):
        window_key(client, 60, 0)


def test_a_refusal_says_when_to_retry():
    assert Decision(False, 0, 12).headers() == {
        "X-RateLimit-Remaining": "0",
        "Retry-After": "12",
    }
    assert "Retry-After" not in Decision(True, 3, 12).headers()
