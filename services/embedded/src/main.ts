import { loadConfig, runProcess } from "@herald/core";
import { seedOf } from "@herald/core/adapters";
import { startEmbedded } from "./start-embedded.ts";

// `npm start`: all of Herald in one process, with no other service to run.
await runProcess(async () => {
  const config = loadConfig();
  const herald = await startEmbedded(config);
  // A person at a terminal in development gets what to do next on lines of its own.
  if (process.stdout.isTTY && config.NODE_ENV !== "production") {
    const seed = seedOf(config);
    const roles = (userId: string) =>
      seed.groups
        .flatMap((g) =>
          g.admins.includes(userId) ? [`admin of ${g.id}`] : g.members.includes(userId) ? [`member of ${g.id}`] : [],
        )
        .join(", ") || "in no group";
    const lines = [
      "",
      `Herald is running: open ${config.HERALD_PUBLIC_URL}/ and sign in (in development, pick any user of the seed).`,
      config.HERALD_SEED
        ? "API tokens: the ones in HERALD_SEED."
        : "Demo tokens, for the API (curl -H 'Authorization: Bearer …'; local use only):",
      ...(config.HERALD_SEED ? [] : seed.users.map((u) => `  ${u.token.padEnd(18)} ${u.name} (${roles(u.id)})`)),
      config.SMTP_URL
        ? "Mail goes to SMTP_URL."
        : "Mail goes to the local outbox: 'My outbox' on the page shows each user theirs.",
      "",
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return herald;
});
