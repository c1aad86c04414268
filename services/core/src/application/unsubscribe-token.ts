import { createHmac, timingSafeEqual } from "node:crypto";
import type { Config } from "../platform/config.ts";
import type { Logger } from "../platform/logger.ts";

// The token in every email's one-click unsubscribe link (RFC 8058): it names one user and one
// group and when it stops working, signed with HMAC-SHA256 under HERALD_UNSUBSCRIBE_SECRET.
// The notifier signs it, the web verifies it; nothing about it is stored. Anyone holding the
// link can turn that one group's mail off for that one user, and nothing else: that is what
// RFC 8058 asks for (no sign-in), and why it expires.
//
// Format: base64url(JSON {v:1, u:userId, g:groupId, e:expiry in epoch seconds}) "." base64url(HMAC)
// where the HMAC is over "herald-unsubscribe-v1." + the first part, so a signature made for
// anything else Herald may sign one day can never pass for this one.

/** How long a link keeps working after its email was sent. */
export const unsubscribeTokenTtlMs = 60 * 24 * 60 * 60 * 1000;

/**
 * The development secret, used when HERALD_UNSUBSCRIBE_SECRET is not set outside production.
 * Fixed rather than random: links keep working across restarts, and in Dapr mode the notifier
 * (which signs) and the web (which verifies) are two processes that must agree. It is public,
 * like the dev tokens, so anyone can forge links with it: production refuses to start without
 * a secret of its own, and refuses any secret starting with "dev-".
 */
export const devUnsubscribeSecret = "dev-unsubscribe-secret-known-to-all-never-use-in-production";

export type UnsubscribeClaims = { userId: string; groupId: string; expiresAt: Date };

export type VerifiedToken =
  ({ ok: true } & UnsubscribeClaims) | { ok: false; reason: "malformed" | "forged" | "expired"; detail: string };

const domain = "herald-unsubscribe-v1.";
const mac = (secret: string, payload: string) =>
  createHmac("sha256", secret)
    .update(domain + payload)
    .digest();

export function signUnsubscribeToken(secret: string, { userId, groupId, expiresAt }: UnsubscribeClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ v: 1, u: userId, g: groupId, e: Math.floor(expiresAt.getTime() / 1000) }),
  ).toString("base64url");
  return `${payload}.${mac(secret, payload).toString("base64url")}`;
}

const base64url = /^[A-Za-z0-9_-]+$/;

export function verifyUnsubscribeToken(secret: string, token: unknown, now = new Date()): VerifiedToken {
  const malformed = (detail: string): VerifiedToken => ({ ok: false, reason: "malformed", detail });
  if (typeof token !== "string" || token.length === 0) return malformed("The link carries no token.");
  if (token.length > 1024) return malformed("The token is too long to be one of ours.");
  const parts = token.split(".");
  if (parts.length !== 2 || !parts.every((p) => base64url.test(p)))
    return malformed("The token is not in the form Herald's links use.");
  const [payload, signature] = parts as [string, string];
  // The signature first: nothing from an unsigned payload is trusted, not even its shape.
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, "base64url");
  // Canonical encoding only: otherwise the spare bits of the last character give each
  // signature a few spellings.
  const canonical = given.toString("base64url") === signature;
  if (!canonical || given.length !== expected.length || !timingSafeEqual(given, expected))
    return {
      ok: false,
      reason: "forged",
      detail: "The token's signature is not valid: it was not issued by Herald, or it was changed.",
    };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return malformed("The token's content is not readable.");
  }
  const c = claims as { v?: unknown; u?: unknown; g?: unknown; e?: unknown };
  if (c.v !== 1 || typeof c.u !== "string" || typeof c.g !== "string" || !Number.isSafeInteger(c.e) || !c.u || !c.g)
    return malformed("The token's content is not what Herald's links carry.");
  const expiresAt = new Date((c.e as number) * 1000);
  if (expiresAt.getTime() <= now.getTime())
    return {
      ok: false,
      reason: "expired",
      detail: `This link expired on ${expiresAt.toISOString()}. Use the link in a newer email, or change your preferences on the website.`,
    };
  return { ok: true, userId: c.u, groupId: c.g, expiresAt };
}

let warnedOfDevSecret = false;

/**
 * The secret links are signed with: HERALD_UNSUBSCRIBE_SECRET, or outside production (where
 * config requires it) the public development secret, with a warning once per process.
 */
export function unsubscribeSecret(config: Pick<Config, "HERALD_UNSUBSCRIBE_SECRET">, logger: Logger): string {
  if (config.HERALD_UNSUBSCRIBE_SECRET) return config.HERALD_UNSUBSCRIBE_SECRET;
  if (!warnedOfDevSecret) {
    warnedOfDevSecret = true;
    logger.warn(
      "HERALD_UNSUBSCRIBE_SECRET is not set: unsubscribe links are signed with the public development secret, and anyone can forge them (refused when NODE_ENV=production)",
    );
  }
  return devUnsubscribeSecret;
}
