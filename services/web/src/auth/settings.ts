import { readFileSync } from "node:fs";
import { type Config, ConfigError, type Logger } from "@herald/core";
import type { SignInSettings } from "./sign-in.ts";

// Sign-in's settings from config (validated there: all of the OIDC settings or none, a session
// secret in production), plus what config cannot check alone: the client secret's file.

/**
 * Used when HERALD_SESSION_SECRET is not set outside production. Fixed rather than random, so
 * sessions survive restarts and several local replicas agree; public, so anyone can forge a
 * session with it: production refuses to start without a secret of its own.
 */
export const devSessionSecret = "dev-session-secret-known-to-all-never-use-in-production";

export function signInSettings(config: Config, logger: Logger): SignInSettings {
  const production = config.NODE_ENV === "production";
  let secret = config.HERALD_SESSION_SECRET;
  if (!secret) {
    logger.warn(
      "HERALD_SESSION_SECRET is not set: session cookies are signed with the public development secret, and anyone can forge them (refused when NODE_ENV=production)",
    );
    secret = devSessionSecret;
  }
  const session = { secret, ttlMs: config.HERALD_SESSION_TTL_MINUTES * 60_000 };
  const issuer = config.HERALD_OIDC_ISSUER;
  if (!issuer || !config.HERALD_OIDC_CLIENT_ID) return { session, oidc: null, devSignIn: !production, audience: null };

  if (production && new URL(issuer).protocol !== "https:")
    throw new ConfigError("HERALD_OIDC_ISSUER: must be an https:// URL when NODE_ENV=production");
  return {
    session,
    oidc: {
      issuer,
      clientId: config.HERALD_OIDC_CLIENT_ID,
      clientSecret: config.HERALD_OIDC_CLIENT_SECRET ?? readClientSecret(config.HERALD_OIDC_CLIENT_SECRET_FILE),
      redirectUrl: config.HERALD_OIDC_REDIRECT_URL ?? null,
      scopes: config.HERALD_OIDC_SCOPES,
      label: config.HERALD_OIDC_LABEL ?? new URL(issuer).host,
      allowHttp: !production,
    },
    devSignIn: !production,
    audience: config.HERALD_OIDC_AUDIENCE ?? null,
  };
}

function readClientSecret(path: string | undefined): string {
  if (!path) throw new ConfigError("HERALD_OIDC_CLIENT_SECRET: required when HERALD_OIDC_ISSUER is set");
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (error) {
    // The path is named, never the content.
    throw new ConfigError(
      `HERALD_OIDC_CLIENT_SECRET_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  if (!secret) throw new ConfigError(`HERALD_OIDC_CLIENT_SECRET_FILE: ${path} is empty`);
  return secret;
}
