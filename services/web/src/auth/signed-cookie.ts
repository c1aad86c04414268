import { createHmac, timingSafeEqual } from "node:crypto";
import type { CookieOptions, Request, Response } from "express";

// The cookies the web signs: the session and the sign-in transaction. A value is
//   base64url(JSON) "." base64url(HMAC-SHA256(secret, purpose + "." + first part))
// with `purpose` ("session", "oidc") in the MAC, so a value signed for one can never pass for
// the other. Each carries its own expiry (`e`, epoch seconds), checked after the signature: a
// cookie's Max-Age is only advice to the browser, a copied cookie has none.

export type Opened<T> = { ok: true; value: T } | { ok: false; reason: "absent" | "forged" | "expired" };

const mac = (secret: string, purpose: string, payload: string) =>
  createHmac("sha256", secret).update(`herald-${purpose}-v1.${payload}`).digest();

export function seal(secret: string, purpose: string, value: object, expiresAt: Date): string {
  const payload = Buffer.from(JSON.stringify({ ...value, e: Math.floor(expiresAt.getTime() / 1000) })).toString(
    "base64url",
  );
  return `${payload}.${mac(secret, purpose, payload).toString("base64url")}`;
}

const shape = /^[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{43}$/;

/** The value `seal` signed, if `sealed` is one, untouched and not expired; nothing from an unsigned payload is read. */
export function open<T>(secret: string, purpose: string, sealed: string | undefined, now = new Date()): Opened<T> {
  if (!sealed) return { ok: false, reason: "absent" };
  if (!shape.test(sealed)) return { ok: false, reason: "forged" };
  const [payload, signature] = sealed.split(".") as [string, string];
  const given = Buffer.from(signature, "base64url");
  const expected = mac(secret, purpose, payload);
  // Canonical encoding only: the spare bits of the last character would give each MAC a few spellings.
  if (given.toString("base64url") !== signature || !timingSafeEqual(given, expected))
    return { ok: false, reason: "forged" };
  let value: { e?: unknown };
  try {
    value = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "forged" };
  }
  if (typeof value?.e !== "number" || value.e * 1000 <= now.getTime()) return { ok: false, reason: "expired" };
  return { ok: true, value: value as T };
}

/** The request's cookies by name (the first of each name, as browsers send the most specific first). */
export function cookiesOf(req: Request): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (req.get("cookie") ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at < 1) continue;
    const name = part.slice(0, at).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(at + 1).trim());
  }
  return cookies;
}

/**
 * httpOnly (page scripts never read them), SameSite=Lax (sent on a top-level navigation from
 * an email link or the IdP, not on another site's POST or fetch), Secure when the request came
 * over HTTPS (req.secure: behind a proxy, as HERALD_TRUST_PROXY lets express see it), so the
 * same build works on http://localhost and behind TLS.
 */
export const cookieOptions = (req: Request, maxAgeMs: number, path = "/"): CookieOptions => ({
  httpOnly: true,
  sameSite: "lax",
  secure: req.secure,
  path,
  maxAge: maxAgeMs,
});

export const clearCookie = (req: Request, res: Response, name: string, path = "/") =>
  res.clearCookie(name, { httpOnly: true, sameSite: "lax", secure: req.secure, path });
