"""Tests for the cart."""
import os

import pytest

from shop.cart import Cart


@pytest.fixture(name="cart")
def fixture_cart():
    """A new cart, except on the first attempt of a Bosun run.

    Bosun's seed scenario needs a test stage that fails on a run's first attempt and
    passes on the retry, the way tests that share state with an earlier session do: on
    attempt 1 (`BOSUN_ATTEMPT=1`, set by the Bosun agent) the cart still holds an item
    left over from that session, so exactly the two tests that read totals from it fail.
    """
    cart = Cart()
    if os.environ.get("BOSUN_ATTEMPT") == "1":
        cart.add("leftover", 100)
    return cart


def test_empty_cart_totals_zero(cart):
    """A cart with nothing in it costs nothing."""
    assert cart.total_cents() == 0


def test_total_multiplies_quantity(cart):
    """Each line costs its price times its quantity."""
    cart.add("apple", 50, 3)
    cart.add("pear", 75)
    assert cart.total_cents() == 225


def test_rejects_zero_quantity():
    """A line must hold at least one item."""
    with pytest.raises(ValueError):
        Cart().add("apple", 50, 0)


def test_rejects_negative_quantity():
    """Negative quantities are refused rather than subtracted."""
    with pytest.raises(ValueError, match="positive"):
        Cart().add("apple", 50, -2)


def test_add_keeps_each_line():
    """Adding the same item twice keeps two lines."""
    cart = Cart()
    cart.add("apple", 50)
    cart.add("apple", 50, 2)
    assert cart.items == [("apple", 50, 1), ("apple", 50, 2)]
