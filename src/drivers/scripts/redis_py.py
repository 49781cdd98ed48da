"""Driver for redis-py (PyPI `redis`): redis.asyncio.cluster.RedisCluster, the user's options (keyword
arguments) over the seeds and credentials the tool passes. Protocol v1: one JSON request per stdin line, one
JSON answer or event per stdout line."""

import asyncio
import json
import platform
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import redis
    from redis.asyncio.cluster import ClusterNode, RedisCluster
except Exception as e:  # the venv is broken or the package is not there
    out({"fatal": f"cannot load redis-py: {type(e).__name__}: {e}"})
    sys.exit(3)


def split(seed):
    host, _, port = seed.rpartition(":")
    return host.strip("[]"), int(port)


async def watch_nodes(rc):
    """redis-py reports nothing of itself: the nodes it knows are polled, and a change is an event."""
    known = None
    while True:
        try:
            now = {n.name for n in rc.get_nodes()}
        except Exception:
            now = known
        if known is not None and now is not None:
            for n in sorted(now - known):
                out({"event": "node_added", "server": n, "detail": ""})
            for n in sorted(known - now):
                out({"event": "node_removed", "server": n, "detail": ""})
        known = now
        await asyncio.sleep(0.2)


async def handle(rc, msg):
    start = time.perf_counter()
    ms = lambda: (time.perf_counter() - start) * 1000.0
    timeout = msg["timeout_ms"] / 1000.0
    try:
        value = None
        if msg["op"] == "set":
            await asyncio.wait_for(rc.set(msg["key"], msg["value"], px=msg["px"]), timeout)
        elif msg["op"] == "get":
            v = await asyncio.wait_for(rc.get(msg["key"]), timeout)
            value = v.decode() if isinstance(v, bytes) else v
        elif msg["op"] == "del":
            await asyncio.wait_for(rc.delete(msg["key"]), timeout)
        else:
            raise ValueError(f"unknown op {msg['op']}")
        out({"id": msg["id"], "ok": True, "value": value, "ms": ms()})
    except asyncio.TimeoutError:
        out({"id": msg["id"], "ok": False, "error": f"the library did not answer within {msg['timeout_ms']} ms",
             "name": "TimeoutError", "timeout": True, "ms": ms()})
    except Exception as e:
        out({"id": msg["id"], "ok": False, "error": str(e), "name": type(e).__name__, "ms": ms()})


async def connect(msg):
    kwargs = {
        "startup_nodes": [ClusterNode(*split(s)) for s in msg["seeds"]],
        "socket_connect_timeout": msg["connect_timeout_ms"] / 1000.0,
    }
    if msg.get("username"):
        kwargs["username"] = msg["username"]
    if msg.get("password"):
        kwargs["password"] = msg["password"]
    if msg.get("tls"):
        kwargs["ssl"] = True
        if msg.get("tls_ca"):
            kwargs["ssl_ca_certs"] = msg["tls_ca"]
        if msg.get("insecure"):
            kwargs["ssl_cert_reqs"] = "none"
    kwargs.update(msg.get("options") or {})
    rc = RedisCluster(**kwargs)
    await asyncio.wait_for(rc.initialize(), msg["ready_within_ms"] / 1000.0)
    return rc


async def main():
    out({"hello": {"protocol": 1, "library": "redis-py", "version": redis.__version__,
                   "runtime": f"python {platform.python_version()}"}})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    rc = None
    tasks = set()
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            msg = json.loads(line)
        except ValueError:
            out({"fatal": "a request line was not JSON"})
            sys.exit(2)
        op = msg.get("op")
        if op == "quit":
            break
        if op == "connect":
            try:
                rc = await connect(msg)
            except Exception as e:
                name = "TimeoutError" if isinstance(e, asyncio.TimeoutError) else type(e).__name__
                out({"fatal": f"{name}: {e}"})
                sys.exit(1)
            tasks.add(asyncio.create_task(watch_nodes(rc)))
            out({"ready": True})
            continue
        if rc is None:
            out({"id": msg.get("id", 0), "ok": False, "error": "not connected", "name": "Error"})
            continue
        t = asyncio.create_task(handle(rc, msg))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if rc is not None:
        try:
            await asyncio.wait_for(rc.aclose(), 1.0)
        except Exception:
            pass


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
