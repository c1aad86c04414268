import { ConfigError, createLogger, loadConfig, runCommand } from "@herald/core";
import { openEventLog, seedOf, tokenHash } from "@herald/core/adapters";
import { revokeToken } from "./revoke-token.ts";

// `npm run revoke-token -- <userId> [reason]`: for an operator whose user's token leaked.
// Revokes the token HERALD_SEED gives that user; the web refuses it as soon as it reads the
// event (no restart). Give the user a new token in the seed, then restart the web.

const [userId, reason = "revoked by an operator"] = process.argv.slice(2);
if (!userId) {
  console.error("usage: npm run revoke-token -- <userId> [reason]");
  process.exit(2);
}
await runCommand(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, "herald-revoke-token");
  const user = seedOf(config).users.find((u) => u.id === userId);
  if (!user) throw new ConfigError(`HERALD_SEED: no user ${userId}`);
  const { store: log } = openEventLog(config);
  const { position } = await revokeToken(log, {
    userId,
    tokenHash: tokenHash(user.token),
    revokedBy: "operator",
    reason,
  });
  logger.info({ userId, position: position.toString() }, "token revoked");
  await log.close();
});
