import { createReadStream, createWriteStream, readdirSync, rmSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError } from "../../domain/errors.ts";
import type { BlobStore } from "../../ports/index.ts";

// Blobs in a folder. A blob is written to `<key>.partial` and renamed when complete, so a
// reader never sees half a file and a failed upload leaves nothing under its key. Blobs are
// other people's files: only the user Herald runs as may read them (files 0600, folders 0700).

export function createFsBlobStore(root: string): BlobStore {
  const base = resolve(root);
  const pathOf = (key: string) => {
    const path = resolve(base, key);
    // Keys are built from ids, but the store does not trust its callers with paths.
    if (!path.startsWith(base + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return path;
  };
  sweepPartialBlobs(base);

  return {
    async put(key, content) {
      const path = pathOf(key);
      const partial = `${path}.partial`;
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      try {
        await pipeline(content, createWriteStream(partial, { mode: 0o600 }));
        await rename(partial, path);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
    },
    async get(key) {
      const path = pathOf(key);
      if (!(await exists(path))) throw new NotFoundError(`No blob ${key}.`);
      return createReadStream(path) as Readable;
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}

/**
 * Deletes the `.partial` files that uploads cut off by a crash (kill -9, power loss) left
 * behind; returns how many. Safe only before any put: one process owns the data dir, and
 * this runs when it opens the store.
 */
function sweepPartialBlobs(root: string): number {
  let entries;
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  const partials = entries.filter((entry) => entry.isFile() && entry.name.endsWith(".partial"));
  for (const partial of partials) rmSync(join(partial.parentPath, partial.name), { force: true });
  return partials.length;
}

async function exists(path: string) {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
