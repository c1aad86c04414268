import type { LeaseStore } from "../../ports/index.ts";

/** Leases in this process's memory: for tests, and a host whose replicas share one process. */
export function createMemoryLeaseStore(): LeaseStore {
  const leases = new Map<string, { holder: string; expiresAt: number }>();
  return {
    async acquire(name, holder, ttlMs) {
      const current = leases.get(name);
      const now = Date.now();
      if (current && current.holder !== holder && current.expiresAt > now) return false;
      leases.set(name, { holder, expiresAt: now + ttlMs });
      return true;
    },
    async release(name, holder) {
      if (leases.get(name)?.holder === holder) leases.delete(name);
    },
  };
}
