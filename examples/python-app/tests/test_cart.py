"""Tests for the cart."""
import pytest

from shop.cart import Cart


def test_empty_cart_totals_zero():
    assert Cart().total_cents() == 0


def test_total_multiplies_quantity():
    cart = Cart()
    cart.add("apple", 50, 3)
    cart.add("pear", 75)
    assert cart.total_cents() == 225


def test_rejects_zero_quantity():
    with pytest.raises(ValueError):
        Cart().add("apple", 50, 0)
