'use strict';

const assert = require('node:assert/strict');
const request = require('supertest');
const { createApp } = require('../src/app');

describe('stock API', () => {
  it('lists every item', async () => {
    const res = await request(createApp({ a: 1, b: 2 })).get('/items').expect(200);
    assert.deepEqual(res.body.items, [{ sku: 'a', count: 1 }, { sku: 'b', count: 2 }]);
  });

  it('answers 404 for an unknown item', async () => {
    const res = await request(createApp()).get('/items/nope').expect(404);
    assert.match(res.body.error, /no item nope/);
  });

  it('records a move', async () => {
    const app = createApp({ mug: 3 });
    await request(app).post('/items/mug/moves').send({ delta: -2 }).expect(201);
    const res = await request(app).get('/items/mug').expect(200);
    assert.equal(res.body.count, 1);
  });

  it('refuses to go below zero', async () => {
    const res = await request(createApp({ mug: 1 }))
      .post('/items/mug/moves')
      .send({ delta: -5 })
      .expect(409);
    assert.equal(res.body.error, 'only 1 in stock');
  });

  it('refuses a delta that is not a whole number', async () => {
    await request(createApp()).post('/items/mug/moves').send({ delta: 'x' }).expect(400);
  });
});
