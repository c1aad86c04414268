/**
 * Named leases: one holder at a time has a lease, until it expires unless renewed. Dapr mode
 * keeps them in the state store every replica reaches, so that work that must run once (the
 * relay) runs in one replica, and another takes over when that one stops or dies.
 */
export interface LeaseStore {
  /**
   * Takes or renews the lease for `holder` until now + ttlMs: true if it was free, expired or
   * already this holder's; false if another holder has it, or won it at the same moment.
   */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up at once if this holder has it (a stopping replica hands over). */
  release(name: string, holder: string): Promise<void>;
}
