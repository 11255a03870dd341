'use strict';

const assert = require('assert');
const { Ledger } = require('../src/ledger');

describe('Ledger', function () {
  it('starts empty', function () {
    assert.strictEqual(new Ledger().onHand('apple'), 0);
  });

  it('adds received stock', function () {
    const ledger = new Ledger();
    ledger.receive('apple', 3);
    ledger.receive('apple', 2);
    assert.strictEqual(ledger.onHand('apple'), 5);
  });

  it('refuses to ship more than is on hand', function () {
    const ledger = new Ledger();
    ledger.receive('pear', 1);
    assert.throws(() => ledger.ship('pear', 2), /1 on hand/);
  });

  it('rejects fractional quantities', function () {
    assert.throws(() => new Ledger().receive('apple', 1.5), RangeError);
  });

  it('reports every item', function () {
    const ledger = new Ledger();
    ledger.receive('apple', 1);
    ledger.receive('pear', 4);
    assert.strictEqual(ledger.report(), 'apple: 1 unit\npear: 4 units');
  });
});
