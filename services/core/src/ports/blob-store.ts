import type { Readable } from "node:stream";

export interface BlobStore {
  /** Stores the stream under key; rejects (leaving nothing behind) if the stream errors. */
  put(key: string, content: Readable, contentType: string): Promise<void>;
  get(key: string): Promise<Readable>;
  delete(key: string): Promise<void>;
}
