'use strict';
// A stock ledger: items with quantities, moved in and out.

const { formatQuantity } = require('./format');

class Ledger {
  constructor() {
    this.stock = new Map();
  }

  receive(sku, quantity) {
    if (!Number.isInteger(quantity) || quantity <= 0) {
      throw new RangeError(`quantity must be a positive whole number, got ${quantity}`);
    }
    this.stock.set(sku, this.onHand(sku) + quantity);
  }

  ship(sku, quantity) {
    const available = this.onHand(sku);
    if (quantity > available) {
      throw new Error(`cannot ship ${quantity} of ${sku}: ${available} on hand`);
    }
    this.stock.set(sku, available - quantity);
  }

  onHand(sku) {
    return this.stock.get(sku) || 0;
  }

  report() {
    let lines = [];
    for (const [sku, quantity] of this.stock) {
      lines.push(`${sku}: ${formatQuantity(quantity)}`);
    }
    return lines.join('\n');
  }
}

module.exports = { Ledger };
