// Driver for node-redis (npm `redis`): `createCluster({ rootNodes, defaults })`, the user's options over the
// seeds and credentials the tool passes. Protocol in node_common.js.
'use strict';
const fs = require('fs');
const { run, text } = require('./node_common.js');

function address(node) {
  if (!node) return null;
  if (node.address) return node.address;
  if (node.host !== undefined) return `${node.host}:${node.port}`;
  return null;
}

run({
  library: 'node-redis',
  version: () => require('redis/package.json').version,
  create(msg, emit, merge) {
    const { createCluster } = require('redis');
    const scheme = msg.tls ? 'rediss' : 'redis';
    const socket = { connectTimeout: msg.connect_timeout_ms };
    if (msg.tls) {
      socket.tls = true;
      if (msg.tls_ca) socket.ca = fs.readFileSync(msg.tls_ca);
      if (msg.insecure) socket.rejectUnauthorized = false;
    }
    const defaults = { socket };
    if (msg.username) defaults.username = msg.username;
    if (msg.password) defaults.password = msg.password;
    const ours = { rootNodes: msg.seeds.map((s) => ({ url: `${scheme}://${s}` })), defaults };
    const cluster = createCluster(merge(ours, msg.options));
    cluster.on('error', (e) => emit('error', null, text(e)));
    // Per-node events, where the version emits them (v5 and later).
    cluster.on('node-error', (e, node) => emit('error', address(node), text(e)));
    cluster.on('node-reconnecting', (node) => emit('reconnecting', address(node), ''));
    cluster.on('node-ready', (node) => emit('reconnected', address(node), ''));
    return cluster;
  },
  connect: (c) => c.connect(),
  set: (c, key, value, px) => c.set(key, value, { PX: px }),
  get: (c, key) => c.get(key),
  del: (c, key) => c.del(key),
  close: (c) => (typeof c.destroy === 'function' ? c.destroy() : c.disconnect()),
});
