import { BlobServiceClient } from "@azure/storage-blob";
import type { Readable } from "node:stream";
import { NotFoundError } from "../../domain/errors.ts";
import type { BlobStore } from "../../ports/index.ts";

// Blobs in Azure Blob Storage (Azurite locally). uploadStream sends blocks as they come and
// commits them only at the end: a stream that fails leaves no blob, only uncommitted blocks
// that the service discards.

export async function createAzureBlobStore(connectionString: string, containerName: string): Promise<BlobStore> {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  await container.createIfNotExists();
  return {
    async put(key, content, contentType) {
      await container
        .getBlockBlobClient(key)
        .uploadStream(content, 4 * 1024 * 1024, 4, { blobHTTPHeaders: { blobContentType: contentType } });
    },
    async get(key) {
      const blob = container.getBlobClient(key);
      if (!(await blob.exists())) throw new NotFoundError(`No blob ${key}.`);
      const download = await blob.download();
      // Destroying this stream (a download whose client went away) destroys the HTTP response
      // under it, which frees its connection: the web may give up on it half way.
      return download.readableStreamBody as Readable;
    },
    async delete(key) {
      await container.getBlobClient(key).deleteIfExists();
    },
  };
}
