import {
  type Config,
  type Directory,
  type Logger,
  createSeedDirectory,
  demoSeed,
  isDevToken,
  readSeed,
} from "@herald/core";

/** The seed from HERALD_SEED, or the demo seed; dev tokens are refused in production. */
export function loadDirectory(config: Config, logger: Logger): Directory {
  const seed = config.HERALD_SEED ? readSeed(config.HERALD_SEED) : demoSeed;
  if (config.NODE_ENV === "production") {
    if (!config.HERALD_SEED)
      throw new Error("HERALD_SEED: required when NODE_ENV=production (the demo seed is for local use)");
    const dev = seed.users.filter((u) => isDevToken(u.token)).map((u) => u.id);
    if (dev.length > 0) {
      throw new Error(
        `HERALD_SEED: users ${dev.join(", ")} have dev tokens ("dev-..."), refused when NODE_ENV=production`,
      );
    }
  }
  if (!config.HERALD_SEED) {
    logger.warn(
      { users: seed.users.map(({ id, token }) => ({ id, token })), groups: seed.groups },
      "using the demo seed; these tokens are for local use only",
    );
  }
  return createSeedDirectory(seed);
}
