'use strict';

const express = require('express');

/** An in-memory stock ledger behind a JSON API. */
function createApp(initial = {}) {
  const stock = new Map(Object.entries(initial));
  const app = express();
  app.use(express.json());

  app.get('/items', (req, res) => {
    const items = [...stock.entries()].map(([sku, count]) => ({ sku, count }));
    res.json({ items });
  });

  app.get('/items/:sku', (req, res) => {
    if (!stock.has(req.params.sku)) {
      return res.status(404).json({ error: `no item ${req.params.sku}` });
    }
    return res.json({ sku: req.params.sku, count: stock.get(req.params.sku) });
  });

  app.post('/items/:sku/moves', (req, res) => {
    const { delta } = req.body || {};
    if (!Number.isInteger(delta)) {
      return res.status(400).json({ error: 'delta must be a whole number' });
    }
    const now = (stock.get(req.params.sku) || 0) + delta;
    if (now < 0) {
      return res.status(409).json({ error: `only ${now - delta} in stock` });
    }
    stock.set(req.params.sku, now);
    return res.status(201).json({ sku: req.params.sku, count: now });
  });

  return app;
}

module.exports = { createApp };
