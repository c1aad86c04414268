import { createMemoryLeaseStore } from "@herald/core/adapters";
import { leaseStoreContract } from "./lease-store.contract.ts";

leaseStoreContract({ name: "memory", open: async () => createMemoryLeaseStore() });
