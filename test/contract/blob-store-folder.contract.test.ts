import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { createFsBlobStore } from "@herald/core/adapters";
import { tempDir } from "../support/herald-process.ts";
import { blobStoreContract } from "./blob-store.contract.ts";

const dir = tempDir("blob-folder-contract");
blobStoreContract({
  name: "folder",
  open: async () => createFsBlobStore(dir),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

// What only the folder adapter can be asked: what it leaves on disk, and whose paths it takes.
describe("BlobStore folder adapter, on disk", () => {
  const root = tempDir("blob-folder-disk");
  after(() => rmSync(root, { recursive: true, force: true }));
  const store = createFsBlobStore(root);

  it("leaves no partial file behind when an upload fails", { timeout: 30_000 }, async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent >= 3) return void setImmediate(() => this.destroy(new Error("client went away")));
        sent += 1;
        this.push(randomBytes(64 * 1024));
      },
    });
    await assert.rejects(store.put("g/upload-1", failing, "application/octet-stream"));
    const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(
      files.map((f) => f.name),
      [],
    );
  });

  it("refuses keys that would climb out of its folder", { timeout: 30_000 }, async () => {
    for (const bad of ["../escape", "g/../../escape", "/etc/passwd"]) {
      await assert.rejects(store.put(bad, Readable.from([Buffer.from("x")]), "text/plain"), /escapes the store/, bad);
      await assert.rejects(store.get(bad), /escapes the store/, bad);
    }
  });

  it("keeps blobs readable by the user Herald runs as only", { timeout: 30_000 }, async () => {
    await store.put("private-group/upload-1", Readable.from([Buffer.from("secret")]), "text/plain");
    const modeOf = (path: string) => statSync(path).mode & 0o777;
    assert.equal(modeOf(join(root, "private-group")), 0o700, "the blob's folder");
    assert.equal(modeOf(join(root, "private-group/upload-1")), 0o600, "the blob");
  });
});

describe("BlobStore folder adapter, opened after a crash", () => {
  const root = tempDir("blob-folder-crash");
  after(() => rmSync(root, { recursive: true, force: true }));

  it("deletes the partial files that cut-off uploads left, and nothing else", { timeout: 30_000 }, async () => {
    // As a kill -9 mid-upload leaves them: next to complete blobs, at any depth.
    mkdirSync(join(root, "g/nested"), { recursive: true });
    writeFileSync(join(root, "g/complete"), "kept");
    writeFileSync(join(root, "g/cut-off.partial"), "half");
    writeFileSync(join(root, "g/nested/cut-off.partial"), "half");
    mkdirSync(join(root, "g/not-a-file.partial"));

    const store = createFsBlobStore(root);

    const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(
      files.map((f) => f.name),
      ["complete"],
    );
    assert.equal(readFileSync(join(root, "g/complete"), "utf8"), "kept");
    assert.ok(statSync(join(root, "g/not-a-file.partial")).isDirectory(), "only files are swept");
    const back: Buffer[] = [];
    for await (const chunk of await store.get("g/complete")) back.push(chunk);
    assert.equal(Buffer.concat(back).toString(), "kept");
  });

  it("opens a folder that does not exist yet", () => {
    createFsBlobStore(join(root, "not-yet"));
  });
});
