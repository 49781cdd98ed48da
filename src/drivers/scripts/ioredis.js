// Driver for ioredis (npm `ioredis`): `new Redis.Cluster(seeds, options)`, the user's options over the seeds
// and credentials the tool passes. Protocol in node_common.js.
'use strict';
const fs = require('fs');
const { run, text } = require('./node_common.js');

function address(node) {
  const o = (node && node.options) || {};
  return o.host !== undefined ? `${o.host}:${o.port}` : null;
}

run({
  library: 'ioredis',
  version: () => require('ioredis/package.json').version,
  create(msg, emit, merge) {
    const Redis = require('ioredis');
    const redisOptions = { connectTimeout: msg.connect_timeout_ms };
    if (msg.username) redisOptions.username = msg.username;
    if (msg.password) redisOptions.password = msg.password;
    if (msg.tls) {
      redisOptions.tls = {};
      if (msg.tls_ca) redisOptions.tls.ca = fs.readFileSync(msg.tls_ca);
      if (msg.insecure) redisOptions.tls.rejectUnauthorized = false;
    }
    const seeds = msg.seeds.map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
    });
    const options = merge({ lazyConnect: true, redisOptions }, msg.options);
    const cluster = new Redis.Cluster(seeds, options);
    cluster.on('error', (e) => emit('error', null, text(e)));
    cluster.on('node error', (e, addr) => emit('error', addr || null, text(e)));
    cluster.on('reconnecting', () => emit('reconnecting', null, 'cluster reconnecting'));
    cluster.on('+node', (node) => emit('node_added', address(node), ''));
    cluster.on('-node', (node) => emit('node_removed', address(node), ''));
    cluster.on('refresh', () => emit('refresh', null, 'slots refreshed'));
    return cluster;
  },
  connect: (c) => c.connect(),
  set: (c, key, value, px) => c.set(key, value, 'PX', px),
  get: (c, key) => c.get(key),
  del: (c, key) => c.del(key),
  close: (c) => c.disconnect(),
});
