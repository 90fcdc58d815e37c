"""KV and Object Store scenarios through nats-py (the official Python client).

Run by tests/kv_object_py.rs against tern and against nats-server 2.9.10, with the
server URL as the only argument. Prints one line per scenario and exits non-zero on the
first failure, saying what differed.
"""

import asyncio
import hashlib
import io
import sys

import nats
from nats.js import api
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    ObjectNotFoundError,
)

TIMEOUT = 10


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


async def expect_raises(error, coroutine, what):
    try:
        await coroutine
    except error:
        return
    except Exception as other:  # noqa: BLE001 (report what came instead)
        raise AssertionError(f"{what}: expected {error.__name__}, got {other!r}")
    raise AssertionError(f"{what}: expected {error.__name__}, nothing raised")


async def kv_basics(js):
    kv = await js.create_key_value(bucket="py_basics", history=5, ttl=3600)
    expect(await kv.put("a", b"1") == 1, "first revision is 1")
    await kv.put("a", b"2")
    await kv.put("b", b"x")
    entry = await kv.get("a")
    expect((entry.value, entry.revision) == (b"2", 2), f"get a: {entry}")
    old = await kv.get("a", revision=1)
    expect(old.value == b"1", f"get a at revision 1: {old}")
    await expect_raises(KeyNotFoundError, kv.get("missing"), "get of a missing key")

    # Compare-and-set.
    await expect_raises(KeyWrongLastSequenceError, kv.create("a", b"x"), "create of an existing key")
    await expect_raises(KeyWrongLastSequenceError, kv.update("a", b"x", last=1), "update at a stale revision")
    expect(await kv.update("a", b"3", last=2) == 4, "update at the current revision")
    expect(await kv.create("c", b"new") == 5, "create of a new key")

    # Delete and purge markers.
    await kv.delete("b")
    await expect_raises(KeyNotFoundError, kv.get("b"), "get of a deleted key")
    await kv.create("b", b"again")  # a deleted key can be created again
    await kv.purge("c")
    await expect_raises(KeyNotFoundError, kv.get("c"), "get of a purged key")
    history = await kv.history("a")
    expect([e.value for e in history] == [b"1", b"2", b"3"], f"history of a: {history}")
    keys = sorted(await kv.keys())
    expect(keys == ["a", "b"], f"keys: {keys}")

    status = await kv.status()
    expect(status.bucket == "py_basics", f"status bucket: {status.bucket}")
    expect(status.history == 5, f"status history: {status.history}")
    expect(status.ttl == 3600, f"status ttl: {status.ttl}")

    # purge_deletes drops the markers (older than 0 s: keep none).
    await kv.delete("b")
    await kv.purge_deletes(olderthan=-1)
    keys = sorted(await kv.keys())
    expect(keys == ["a"], f"keys after purge_deletes: {keys}")
    info = await js.stream_info("KV_py_basics")
    expect(info.state.messages == 3, f"messages after purge_deletes: {info.state.messages}")
    print("kv basics: ok")


async def kv_watch(js):
    kv = await js.create_key_value(bucket="py_watch", history=10)
    await kv.put("a.1", b"old")
    await kv.put("a.1", b"new")
    await kv.put("b.1", b"x")

    watcher = await kv.watchall()
    first = await watcher.updates(timeout=TIMEOUT)
    second = await watcher.updates(timeout=TIMEOUT)
    expect((first.key, first.value) == ("a.1", b"new"), f"watchall first: {first}")
    expect((second.key, second.value, second.delta) == ("b.1", b"x", 0), f"watchall second: {second}")
    marker = await watcher.updates(timeout=TIMEOUT)
    expect(marker is None, f"end of initial values: {marker}")

    wild = await kv.watch("a.*")
    expect((await wild.updates(timeout=TIMEOUT)).value == b"new", "wildcard watch initial")
    expect(await wild.updates(timeout=TIMEOUT) is None, "wildcard end of initial values")

    history = await kv.watch("a.1", include_history=True)
    values = [(await history.updates(timeout=TIMEOUT)).value for _ in range(2)]
    expect(values == [b"old", b"new"], f"include_history: {values}")

    meta = await kv.watch(">", meta_only=True)
    m = await meta.updates(timeout=TIMEOUT)
    expect(m.key == "a.1" and not m.value, f"meta_only: {m}")

    no_deletes = await kv.watch("a.*", ignore_deletes=True)
    expect((await no_deletes.updates(timeout=TIMEOUT)).key == "a.1", "ignore_deletes initial")
    expect(await no_deletes.updates(timeout=TIMEOUT) is None, "ignore_deletes end of initial values")

    # Updates made after the watches started.
    await kv.put("a.2", b"y")
    await kv.delete("a.1")
    await kv.put("c", b"z")
    updates = [await watcher.updates(timeout=TIMEOUT) for _ in range(3)]
    expect([(u.key, u.operation) for u in updates] == [("a.2", None), ("a.1", "DEL"), ("c", None)],
           f"watchall updates: {[(u.key, u.operation) for u in updates]}")
    expect((await wild.updates(timeout=TIMEOUT)).key == "a.2", "wildcard update")
    expect((await wild.updates(timeout=TIMEOUT)).operation == "DEL", "wildcard delete")
    expect((await no_deletes.updates(timeout=TIMEOUT)).key == "a.2", "ignore_deletes update")
    await kv.put("a.3", b"w")
    nxt = await no_deletes.updates(timeout=TIMEOUT)
    expect(nxt.key == "a.3", f"ignore_deletes skipped the delete: {nxt}")

    empty = await js.create_key_value(bucket="py_empty")
    try:
        keys = await empty.keys()
        raise AssertionError(f"keys of an empty bucket: {keys}")
    except nats.js.errors.NoKeysError:
        pass
    for w in (watcher, wild, history, meta, no_deletes):
        await w.stop()
    print("kv watch: ok")


async def kv_ttl(js):
    kv = await js.create_key_value(bucket="py_ttl", ttl=0.7)
    await kv.put("k", b"v")
    expect((await kv.get("k")).value == b"v", "value before expiry")
    for _ in range(100):
        try:
            await kv.get("k")
        except KeyNotFoundError:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("value did not expire")
    print("kv ttl: ok")


async def object_store(js):
    obs = await js.create_object_store(bucket="py_files")
    data = bytes((i * 7) % 251 for i in range(1_000_003))
    info = await obs.put("data.bin", data)
    expect(info.size == len(data), f"put size: {info.size}")
    expect(info.chunks == 8, f"put chunks: {info.chunks}")
    result = await obs.get("data.bin")
    expect(result.data == data, "object read back differs")
    digest = hashlib.sha256(data).digest()
    import base64
    expect(result.info.digest == "SHA-256=" + base64.urlsafe_b64encode(digest).decode(),
           f"digest: {result.info.digest}")
    await obs.put("small", b"tiny")
    await obs.put("data.bin", io.BytesIO(b"replaced"))
    expect((await obs.get("data.bin")).data == b"replaced", "replaced object")
    names = sorted(i.name for i in await obs.list())
    expect(names == ["data.bin", "small"], f"list: {names}")
    info = await obs.get_info("small")
    expect(info.size == 4 and info.mtime, f"info: {info}")

    watcher = await obs.watch(include_history=True)
    seen = []
    while True:
        e = await watcher.updates(timeout=TIMEOUT)
        if e is None:
            break
        seen.append(e.name)
    expect(sorted(seen) == ["data.bin", "small"], f"watch initial: {seen}")
    await obs.delete("small")
    deleted = await watcher.updates(timeout=TIMEOUT)
    expect(deleted.name == "small" and deleted.deleted, f"watch delete: {deleted}")
    await expect_raises(ObjectNotFoundError, obs.get("small"), "get of a deleted object")
    await watcher.stop()

    stream = await js.stream_info("OBJ_py_files")
    # data.bin's one chunk and the two meta messages: replaced and deleted chunks purged.
    expect(stream.state.messages == 3, f"messages in OBJ_py_files: {stream.state.messages}")
    await js.delete_object_store("py_files")
    await expect_raises(Exception, js.object_store("py_files"), "bound to a deleted bucket")
    print("object store: ok")


async def buckets(js):
    await js.create_key_value(bucket="py_gone")
    expect(await js.delete_key_value("py_gone"), "delete bucket")
    await expect_raises(BucketNotFoundError, js.key_value("py_gone"), "bind to a deleted bucket")
    print("buckets: ok")


async def main(url):
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    js = nc.jetstream(timeout=TIMEOUT)
    for scenario in (kv_basics, kv_watch, kv_ttl, object_store, buckets):
        await scenario(js)
    await nc.close()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except AssertionError as failure:
        print(f"FAILED: {failure}")
        sys.exit(1)
