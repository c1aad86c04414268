import { createHash, randomUUID } from "node:crypto";
import type { Request } from "express";
import busboy from "busboy";
import { PassThrough, Transform, pipeline } from "node:stream";
import {
  BadRequestError,
  type BlobStore,
  PayloadTooLargeError,
  RequestTimeoutError,
  UnsupportedMediaTypeError,
  withoutInvisibleFormatting,
} from "@herald/core";

// Streams the one `file` part of a multipart request to the blob store while computing its
// sha256 and size. Nothing is buffered whole. If anything goes wrong (too large, malformed,
// client gone) the partial blob is deleted before the error is raised: a rejected upload
// leaves no trace.

export type ReceivedFile = {
  uploadId: string;
  blobKey: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
};

export type ReceiveOptions = { blobs: BlobStore; groupId: string; maxBytes: number; idleTimeoutMs: number };

/** Parts a legitimate upload form would ever send; more is a multipart bomb. */
const maxParts = 20;

export async function receiveUpload(
  req: Request,
  { blobs, groupId, maxBytes, idleTimeoutMs }: ReceiveOptions,
): Promise<ReceivedFile> {
  if (!req.is("multipart/form-data")) {
    throw new UnsupportedMediaTypeError("Send the file as multipart/form-data with one part named `file`.");
  }
  const uploadId = randomUUID();
  const blobKey = `${groupId}/${uploadId}`;

  let parser: busboy.Busboy;
  try {
    // busboy's fileSize and parts limits fire on reaching the limit, not on going past it:
    // set one above the documented maximum, so a file of exactly maxBytes (or a request of
    // exactly maxParts parts) is accepted and 'limit' / 'partsLimit' mean "over".
    parser = busboy({
      headers: req.headers,
      defParamCharset: "utf8",
      limits: { fileSize: maxBytes + 1, files: 1, parts: maxParts + 1, fieldSize: 64 * 1024 },
    });
  } catch (error) {
    throw new BadRequestError(`Malformed multipart request: ${(error as Error).message}`);
  }

  return new Promise<ReceivedFile>((resolve, reject) => {
    let stored: Promise<Omit<ReceivedFile, "uploadId" | "blobKey">> | null = null;
    let failure: Error | null = null;
    let settled = false;
    /** What the blob store is reading from; destroyed on failure so the store gives up too. */
    let body: PassThrough | null = null;

    const fail = (error: Error) => {
      if (failure) return;
      failure = error;
      req.unpipe(parser);
      // Nothing more is parsed or stored. The rest of the body is the problem handler's: it
      // reads and drops it for a moment before answering and closing (problems.ts).
      body?.destroy(error);
      const cleanup = stored ? stored.catch(() => undefined) : Promise.resolve();
      void cleanup.then(() => blobs.delete(blobKey)).finally(() => finish());
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      if (failure) reject(failure);
      else if (!stored) reject(new BadRequestError("The request has no part named `file`."));
      else stored.then((file) => resolve({ uploadId, blobKey, ...file }), reject);
    };

    parser.on("file", (name, stream, info) => {
      if (name !== "file" || stored) {
        stream.resume();
        return;
      }
      const hash = createHash("sha256");
      let size = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      body = new PassThrough();
      stream.on("limit", () => fail(new PayloadTooLargeError(maxBytes)));
      // Errors surface through blobs.put (body is its source); pipeline only tears down.
      pipeline(stream, measure, body, () => undefined);
      stored = blobs.put(blobKey, body, info.mimeType).then(() => {
        // An empty file tells the admins nothing; most often a client that sent the wrong part.
        if (size === 0) throw new BadRequestError("The file is empty.");
        return {
          filename: sanitizeFilename(info.filename),
          contentType: info.mimeType || "application/octet-stream",
          size,
          sha256: hash.digest("hex"),
        };
      });
      stored.catch((error) => fail(failure ?? error));
    });
    parser.on("filesLimit", () => fail(new BadRequestError("Send exactly one part named `file`.")));
    parser.on("partsLimit", () => fail(new BadRequestError(`A request may have at most ${maxParts} parts.`)));
    parser.on("error", (error: Error) => fail(new BadRequestError(`Malformed multipart request: ${error.message}`)));
    parser.on("close", () => {
      if (failure) return;
      if (!stored) return finish();
      stored.then(finish, () => undefined);
    });
    req.on("aborted", () => fail(new BadRequestError("The client closed the connection mid-upload.")));
    const stalled = () => fail(new RequestTimeoutError(`No data for ${idleTimeoutMs} ms; the upload was cut off.`));
    let idle = setTimeout(stalled, idleTimeoutMs);
    req.on("data", () => idle.refresh());
    req.on("end", () => clearTimeout(idle));
    req.pipe(parser);
  });
}

/**
 * What is kept of a client's filename: the last path segment, NFC, no control characters and
 * no invisible formatting (bidi overrides, zero-width characters: the page, the API, the
 * download and the email all show the name as it will be read), at most 255 characters. It is
 * only ever shown (escaped), never used as a storage path.
 */
export function sanitizeFilename(raw: string | undefined): string {
  const base = (raw ?? "").split(/[/\\]/).pop() ?? "";
  const clean = withoutInvisibleFormatting(base.normalize("NFC"))
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, "")
    .trim()
    .replace(/^\.+$/, "");
  const chars = Array.from(clean);
  return chars.length === 0 ? "unnamed" : chars.slice(0, 255).join("");
}
