import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { type Config, ConfigError } from "../../platform/config.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Directory, Group, User } from "../../ports/index.ts";

// Users, groups and their bearer tokens, from a seed file (HERALD_SEED) or the demo seed.
// Users signing in through the identity provider are found by their `subject` (the IdP's
// `sub`) or their email. Group events may replace this in a later step; the port stays.

const seedSchema = z.object({
  users: z.array(
    z.object({
      id: z.string().min(1),
      email: z.email(),
      name: z.string().min(1),
      token: z.string().min(8),
      /** The identity provider's `sub` for this user; without it, sign-in maps by verified email. */
      subject: z.string().min(1).optional(),
    }),
  ),
  groups: z.array(
    z.object({
      id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "group ids are 1-64 of A-Z a-z 0-9 _ -"),
      name: z.string().min(1),
      admins: z.array(z.string()),
      members: z.array(z.string()).default([]),
    }),
  ),
});

export type Seed = z.infer<typeof seedSchema>;

/**
 * Shortest token accepted in production: 32 random base64 characters are 192 bits, beyond any
 * guesser, throttled (web/src/auth/bearer.ts) or not.
 */
const productionTokenLength = 32;

/** Dev tokens: known to anyone who read the README. Refused when NODE_ENV=production. */
const isDevToken = (token: string) => token.startsWith("dev-");

export const demoSeed: Seed = {
  users: [
    { id: "alice", email: "alice@example.test", name: "Alice Admin", token: "dev-alice-token" },
    { id: "bob", email: "bob@example.test", name: "Bob Admin", token: "dev-bob-token" },
    { id: "carol", email: "carol@example.test", name: "Carol Member", token: "dev-carol-token" },
    { id: "dave", email: "dave@example.test", name: "Dave Outsider", token: "dev-dave-token" },
  ],
  groups: [{ id: "design", name: "Design Team", admins: ["alice", "bob"], members: ["carol"] }],
};

function readSeed(path: string): Seed {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`HERALD_SEED: cannot read ${path} as JSON (${(error as Error).message})`);
  }
  const parsed = seedSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`HERALD_SEED: ${path} is not a valid seed: ${problems}`);
  }
  return parsed.data;
}

/** How a token is named in memory and in the log (TokenRevoked): never the token itself. */
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("base64url");

export function createSeedDirectory(seed: Seed): Directory {
  const users = new Map<string, User>();
  const byTokenHash = new Map<string, User>();
  const bySubject = new Map<string, User>();
  const byEmail = new Map<string, User>();
  for (const { token, subject, ...user } of seed.users) {
    if (users.has(user.id)) throw new ConfigError(`HERALD_SEED: user id ${user.id} appears twice`);
    const hash = tokenHash(token);
    if (byTokenHash.has(hash)) throw new ConfigError(`HERALD_SEED: user ${user.id} shares a token with another user`);
    // One address, one person: otherwise signing in by email would pick one of them at random.
    const email = user.email.toLowerCase();
    if (byEmail.has(email))
      throw new ConfigError(`HERALD_SEED: user ${user.id} shares the email ${user.email} with another user`);
    if (subject !== undefined && bySubject.has(subject))
      throw new ConfigError(`HERALD_SEED: user ${user.id} shares the subject ${subject} with another user`);
    users.set(user.id, user);
    byTokenHash.set(hash, user);
    byEmail.set(email, user);
    if (subject !== undefined) bySubject.set(subject, user);
  }
  const groups = new Map<string, Group>();
  for (const group of seed.groups) {
    if (groups.has(group.id)) throw new ConfigError(`HERALD_SEED: group id ${group.id} appears twice`);
    for (const id of [...group.admins, ...group.members]) {
      if (!users.has(id)) throw new ConfigError(`HERALD_SEED: group ${group.id} names unknown user ${id}`);
    }
    groups.set(group.id, group);
  }
  return {
    // Looking up by hash keeps the raw tokens out of memory maps and out of timing.
    userByTokenHash: (hash) => byTokenHash.get(hash),
    user: (id) => users.get(id),
    userBySubject: (subject) => bySubject.get(subject),
    userByEmail: (email) => byEmail.get(email.toLowerCase()),
    group: (id) => groups.get(id),
    users: () => [...users.values()],
    groups: () => [...groups.values()],
  };
}

/**
 * What a production token must carry: 128 bits, estimated generously as length × log2 of its
 * distinct characters (a token of 32 hex digits just passes; "a" × 40 or "ab" × 20 does not).
 * It catches a token typed by hand, not a weak generator.
 */
const productionTokenBits = 128;
const tokenBits = (token: string) => token.length * Math.log2(Math.max(1, new Set(token).size));

/** The seed from HERALD_SEED, or the demo seed. */
export const seedOf = (config: Config): Seed => (config.HERALD_SEED ? readSeed(config.HERALD_SEED) : demoSeed);

/** The seed from HERALD_SEED, or the demo seed; dev tokens are refused in production. */
export function loadDirectory(config: Config, logger: Logger): Directory {
  const seed = seedOf(config);
  if (config.NODE_ENV === "production") {
    if (!config.HERALD_SEED)
      throw new ConfigError("HERALD_SEED: required when NODE_ENV=production (the demo seed is for local use)");
    const dev = seed.users.filter((u) => isDevToken(u.token)).map((u) => u.id);
    if (dev.length > 0) {
      throw new ConfigError(
        `HERALD_SEED: users ${dev.join(", ")} have dev tokens ("dev-..."), refused when NODE_ENV=production`,
      );
    }
    const short = seed.users.filter((u) => u.token.length < productionTokenLength).map((u) => u.id);
    if (short.length > 0) {
      throw new ConfigError(
        `HERALD_SEED: users ${short.join(", ")} have tokens shorter than ${productionTokenLength} characters, ` +
          `refused when NODE_ENV=production (e.g. \`openssl rand -base64 32\` makes one)`,
      );
    }
    const guessable = seed.users.filter((u) => tokenBits(u.token) < productionTokenBits).map((u) => u.id);
    if (guessable.length > 0) {
      throw new ConfigError(
        `HERALD_SEED: users ${guessable.join(", ")} have tokens of too few different characters to be random ` +
          `(under ${productionTokenBits} bits by length × log2(distinct characters)), refused when NODE_ENV=production ` +
          `(e.g. \`openssl rand -base64 32\` makes one)`,
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
