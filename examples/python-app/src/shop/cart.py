"""Shopping cart arithmetic."""


class Cart:
    """Items with prices in cents."""

    def __init__(self):
        self.items = []

    def add(self, name, price_cents, quantity=1):
        """Add an item; quantities must be positive."""
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.items.append((name, price_cents, quantity))

    def total_cents(self):
        """Sum of price times quantity."""
        return sum(price * qty for _, price, qty in self.items)

    # TODO: apply discount codes
