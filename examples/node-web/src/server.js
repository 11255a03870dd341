'use strict';

const { createApp } = require('./app');

const port = Number(process.env.PORT || 3000);
createApp({ 'mug-blue': 12, 'mug-red': 3 }).listen(port, () => {
  console.log(`stockroom-api listening on ${port}`);
});
