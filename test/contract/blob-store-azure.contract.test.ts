import { randomUUID } from "node:crypto";
import { createAzureBlobStore } from "@herald/core/adapters";
import { type Azurite, startAzurite } from "../support/azurite.ts";
import { blobStoreContract } from "./blob-store.contract.ts";

// The Azure Blob Storage adapter against Azurite (the emulator, an npm devDependency), started
// by this test on free ports and stopped after it.

let azurite: Azurite | undefined;
blobStoreContract({
  name: "Azure Blob Storage (Azurite)",
  async open() {
    azurite = await startAzurite();
    return createAzureBlobStore(azurite.env.AZURE_STORAGE_CONNECTION_STRING, `contract-${randomUUID()}`);
  },
  cleanup: async () => azurite?.stop(),
});
