import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { LeaseStore } from "@herald/core";

// The behaviour every LeaseStore adapter must have: what the web replicas rely on to run the
// relay in exactly one of them (application/while-leader.ts).

export type LeaseStoreFactory = {
  name: string;
  open(): Promise<LeaseStore>;
  cleanup?(): Promise<void>;
};

const CASE = { timeout: 30_000 };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function leaseStoreContract(factory: LeaseStoreFactory) {
  describe(`LeaseStore contract: ${factory.name}`, () => {
    let leases: LeaseStore;
    before(async () => {
      leases = await factory.open();
    });
    after(async () => {
      await factory.cleanup?.();
    });
    const lease = () => `relay-${randomUUID()}`;

    it("a free lease is taken; while it runs, another holder is refused and the holder renews it", CASE, async () => {
      const name = lease();
      assert.equal(await leases.acquire(name, "web-a", 10_000), true);
      assert.equal(await leases.acquire(name, "web-b", 10_000), false);
      assert.equal(await leases.acquire(name, "web-a", 10_000), true, "renewed");
      assert.equal(await leases.acquire(name, "web-b", 10_000), false);
    });

    it("an expired lease goes to the next holder, and the old one is then refused", CASE, async () => {
      const name = lease();
      assert.equal(await leases.acquire(name, "web-a", 300), true);
      await pause(500);
      assert.equal(await leases.acquire(name, "web-b", 10_000), true);
      assert.equal(await leases.acquire(name, "web-a", 10_000), false);
    });

    it("a released lease can be taken at once; a release by another holder changes nothing", CASE, async () => {
      const name = lease();
      assert.equal(await leases.acquire(name, "web-a", 10_000), true);
      await leases.release(name, "web-b");
      assert.equal(await leases.acquire(name, "web-b", 10_000), false, "web-b could not release web-a's lease");
      await leases.release(name, "web-a");
      assert.equal(await leases.acquire(name, "web-b", 10_000), true);
    });

    it("of holders reaching for a free lease at once, exactly one gets it", CASE, async () => {
      for (let round = 0; round < 5; round++) {
        const name = lease();
        const holders = ["web-a", "web-b", "web-c", "web-d"];
        const won = await Promise.all(holders.map((h) => leases.acquire(name, h, 10_000)));
        assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`);
      }
    });

    it("leases are independent of each other", CASE, async () => {
      const [one, two] = [lease(), lease()];
      assert.equal(await leases.acquire(one, "web-a", 10_000), true);
      assert.equal(await leases.acquire(two, "web-b", 10_000), true);
    });
  });
}
