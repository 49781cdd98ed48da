// Protocol v1 loop shared by the node drivers: one JSON request per stdin line, one JSON answer or event per
// stdout line. An adapter (node_redis.js, ioredis.js) knows its library; this file knows the protocol.
'use strict';
const readline = require('readline');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function text(e) {
  if (e && typeof e.message === 'string' && e.message) return e.message;
  if (e && Array.isArray(e.errors) && e.errors.length) return e.errors.map(text).join('; ');
  return String(e);
}

function name(e) {
  if (e && e.constructor && e.constructor.name && e.constructor.name !== 'Object') return e.constructor.name;
  return (e && e.name) || 'Error';
}

// Rejects after `ms` with a driver timeout, so every request is answered even if the library never settles.
function bounded(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`the library did not answer within ${ms} ms`);
      e.driverTimeout = true;
      reject(e);
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// A library that reconnects every few milliseconds reports the same error as often: each (event, server)
// is sent at most once a second, with a count of the ones held back.
const lastSent = new Map();
const heldBack = new Map();
function emit(event, server, detail) {
  const key = `${event}|${server || ''}`;
  const now = Date.now();
  const last = lastSent.get(key) || 0;
  if (now - last < 1000) {
    heldBack.set(key, (heldBack.get(key) || 0) + 1);
    return;
  }
  lastSent.set(key, now);
  const n = heldBack.get(key) || 0;
  heldBack.delete(key);
  const more = n > 0 ? ` (and ${n} more like it in the last second)` : '';
  out({ event, server: server || null, detail: `${detail || ''}${more}` });
}

// The adapter's options under the user's: the user's file wins at every level it names.
function merge(ours, theirs) {
  if (!theirs || typeof theirs !== 'object' || Array.isArray(theirs)) return theirs === undefined ? ours : theirs;
  const result = Object.assign({}, ours);
  for (const [k, v] of Object.entries(theirs)) {
    const o = ours ? ours[k] : undefined;
    result[k] = o && typeof o === 'object' && !Array.isArray(o) && v && typeof v === 'object' && !Array.isArray(v)
      ? merge(o, v)
      : v;
  }
  return result;
}

function run(adapter) {
  let version;
  try {
    version = adapter.version();
  } catch (e) {
    out({ fatal: `cannot load ${adapter.library}: ${text(e)}` });
    process.exit(3);
  }
  out({ hello: { protocol: 1, library: adapter.library, version, runtime: `node ${process.version}` } });
  let client = null;
  let closing = false;
  const finish = async () => {
    if (closing) return;
    closing = true;
    try {
      if (client) await bounded(Promise.resolve(adapter.close(client)), 1000);
    } catch (_) { /* ending anyway */ }
    process.exit(0);
  };
  // Some libraries throw from their own timers; that is an event of the library, not the end of the driver.
  process.on('uncaughtException', (e) => emit('error', null, `${name(e)}: ${text(e)}`));
  process.on('unhandledRejection', (e) => emit('error', null, `${name(e)}: ${text(e)}`));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('close', finish);
  rl.on('line', async (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (_) {
      out({ fatal: 'a request line was not JSON' });
      process.exit(2);
    }
    if (msg.op === 'quit') return finish();
    if (msg.op === 'connect') {
      try {
        client = adapter.create(msg, emit, merge);
        await bounded(Promise.resolve(adapter.connect(client)), msg.ready_within_ms);
        out({ ready: true });
      } catch (e) {
        out({ fatal: `${name(e)}: ${text(e)}` });
        process.exit(1);
      }
      return;
    }
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    try {
      let value = null;
      if (!client) throw new Error('not connected');
      if (msg.op === 'set') await bounded(adapter.set(client, msg.key, msg.value, msg.px), msg.timeout_ms);
      else if (msg.op === 'get') {
        const v = await bounded(adapter.get(client, msg.key), msg.timeout_ms);
        value = v === null || v === undefined ? null : String(v);
      } else if (msg.op === 'del') await bounded(adapter.del(client, msg.key), msg.timeout_ms);
      else throw new Error(`unknown op ${msg.op}`);
      out({ id: msg.id, ok: true, value, ms: ms() });
    } catch (e) {
      out({ id: msg.id, ok: false, error: text(e), name: name(e), timeout: !!e.driverTimeout, ms: ms() });
    }
  });
}

module.exports = { run, text, name };
