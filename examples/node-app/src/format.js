'use strict';
// How quantities are shown in reports.

function formatQuantity(quantity, unit) {
  var label = quantity === 1 ? 'unit' : 'units';
  return `${quantity} ${label}`;
}

module.exports = { formatQuantity };
