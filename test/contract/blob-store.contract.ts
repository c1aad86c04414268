import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { type BlobStore, NotFoundError } from "@herald/core";

// The behaviour every BlobStore adapter must have. Each backend's test file calls this with a
// factory; what passes here is what the upload path (web) and the download path rely on: a
// blob reads back byte for byte, and an upload that fails half way leaves nothing to download.

export type BlobStoreFactory = {
  name: string;
  open(): Promise<BlobStore>;
  /** Removes what open() created (folders, emulator processes). */
  cleanup?(): Promise<void>;
};

/** Every case is bounded: a backend that hangs fails the case instead of the run. */
const CASE = { timeout: 60_000 };
const MiB = 1024 * 1024;

/** Keys shaped as Herald builds them: `<group>/<upload id>`. */
const key = () => `group-${randomUUID().slice(0, 8)}/${randomUUID()}`;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** `data` as an upload arrives: in 64 KiB chunks, produced only as fast as they are read. */
function chunked(data: Buffer, chunkSize = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) return void this.push(null);
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** A client that goes away: `bytes` arrive, then the stream errors with `error`. */
function failingAfter(bytes: number, error: Error): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        // Asynchronously, as a socket reset would come: after what was sent has been read.
        setImmediate(() => this.destroy(error));
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, bytes - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

async function assertAbsent(store: BlobStore, k: string, why: string) {
  await assert.rejects(store.get(k), NotFoundError, why);
}

export function blobStoreContract(factory: BlobStoreFactory) {
  describe(`BlobStore contract: ${factory.name}`, () => {
    let store: BlobStore;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await factory.cleanup?.();
    });

    it("returns the bytes that were put, byte for byte", CASE, async () => {
      const k = key();
      // Every byte value, including NUL and bytes that are not UTF-8.
      const content = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1000)]);
      await store.put(k, chunked(content, 100), "application/octet-stream");
      const back = await readAll(await store.get(k));
      assert.equal(back.length, content.length);
      assert.ok(back.equals(content), "the blob read back differs from the one put");
    });

    it("streams a multi-MiB blob in and out unchanged", CASE, async () => {
      const k = key();
      // More than two of the Azure adapter's 4 MiB blocks, and not a multiple of any chunk size.
      const content = randomBytes(9 * MiB + 12_345);
      await store.put(k, chunked(content), "application/octet-stream");
      const back = await readAll(await store.get(k));
      assert.equal(back.length, content.length);
      assert.equal(sha256(back), sha256(content));
    });

    it("stores an empty file as an empty blob, not as a missing one", CASE, async () => {
      const k = key();
      await store.put(k, Readable.from([]), "text/plain");
      const back = await readAll(await store.get(k));
      assert.equal(back.length, 0);
    });

    it("releases a blob read only in part when its reader is destroyed", CASE, async () => {
      // A download whose client went away: the web destroys the stream after some chunks, and
      // the file (or connection) behind it must close, or enough of them exhaust the process.
      const k = key();
      await store.put(k, chunked(randomBytes(9 * MiB)), "application/octet-stream");
      const content = await store.get(k);
      await once(content, "data");
      const closed = once(content, "close");
      content.destroy();
      await closed;
      assert.ok(content.destroyed);
      // And the blob is still there for the next reader.
      assert.equal((await readAll(await store.get(k))).length, 9 * MiB);
    });

    it("throws NotFoundError for a key that was never put", CASE, async () => {
      await assertAbsent(store, key(), "get of an unknown key must throw NotFoundError");
      // Nor does a blob show under the folder-like prefix of another's key.
      const k = key();
      await store.put(k, Readable.from([Buffer.from("x")]), "text/plain");
      await assertAbsent(store, k.split("/")[0]!, "a key's prefix is not a blob");
    });

    it("rejects a put whose source stream fails mid-way, and leaves nothing readable under its key", CASE, async () => {
      const k = key();
      const cause = new Error("client went away");
      // Past the first 4 MiB block, so a backend that uploads in blocks has already sent some.
      await assert.rejects(store.put(k, failingAfter(5 * MiB, cause), "application/octet-stream"));
      await assertAbsent(store, k, "a failed upload must leave no blob under its key");

      // Also when it fails at once, before any byte.
      const k2 = key();
      await assert.rejects(store.put(k2, failingAfter(0, cause), "application/octet-stream"));
      await assertAbsent(store, k2, "an upload that failed before any byte must leave no blob");
    });

    it("keeps the previous blob when a put over its key fails mid-way", CASE, async () => {
      const k = key();
      const previous = randomBytes(200_000);
      await store.put(k, chunked(previous), "application/octet-stream");
      await assert.rejects(
        store.put(k, failingAfter(5 * MiB, new Error("client went away")), "application/octet-stream"),
      );
      const back = await readAll(await store.get(k));
      assert.equal(sha256(back), sha256(previous), "a failed put must not damage what was there");
    });

    it("replaces a blob entirely when its key is put again", CASE, async () => {
      const k = key();
      await store.put(k, chunked(Buffer.from("the first, longer version of the file\n".repeat(1000))), "text/plain");
      const second = Buffer.from("second");
      await store.put(k, chunked(second), "text/plain");
      const back = await readAll(await store.get(k));
      assert.equal(back.toString("utf8"), "second", "nothing of the first version may remain");
    });

    it("deletes a blob, after which it is not found", CASE, async () => {
      const k = key();
      const other = key();
      await store.put(k, chunked(Buffer.from("to delete")), "text/plain");
      await store.put(other, chunked(Buffer.from("to keep")), "text/plain");
      await store.delete(k);
      await assertAbsent(store, k, "a deleted blob must not be found");
      assert.equal((await readAll(await store.get(other))).toString(), "to keep", "delete removed another blob");
    });

    it("deletes a key that was never put, or was already deleted, without error", CASE, async () => {
      await store.delete(key());
      const k = key();
      await store.put(k, chunked(Buffer.from("once")), "text/plain");
      await store.delete(k);
      await store.delete(k);
      await assertAbsent(store, k, "a twice-deleted blob must not be found");
    });

    it("keeps each blob's bytes when several are put at once", CASE, async () => {
      const blobs = Array.from({ length: 6 }, () => ({
        k: key(),
        content: randomBytes(300_000 + Math.floor(Math.random() * 1000)),
      }));
      await Promise.all(blobs.map(({ k, content }) => store.put(k, chunked(content), "application/octet-stream")));
      for (const { k, content } of blobs) assert.equal(sha256(await readAll(await store.get(k))), sha256(content));
    });
  });
}
