import { randomBytes, timingSafeEqual } from "node:crypto";
import express, { type Request, type RequestHandler, type Response } from "express";
import { addLogContext, type Directory, HeraldError, UnauthorizedError, type User } from "@herald/core";
import { clearCookie, cookieOptions, cookiesOf, open, seal } from "./signed-cookie.ts";

// Sessions are a signed cookie, not a server-side store: any web replica verifies it with the
// shared HERALD_SESSION_SECRET, nothing is stored or looked up. It holds who signed in, the
// session's CSRF token and when it ends; never group membership, which is read from the
// Directory on every request, so a user removed from a group loses access at once. The price:
// a copied cookie is valid until it expires (sign-out clears it from that browser only), so
// the TTL is kept short (HERALD_SESSION_TTL_MINUTES).

const sessionCookie = "herald_session";
/** Before sign-in: the double-submit CSRF token the sign-in forms carry. */
const csrfCookie = "herald_csrf";

export type Session = { userId: string; csrfToken: string; expiresAt: Date };
type SealedSession = { u: string; c: string };

export type SessionSettings = {
  /** HERALD_SESSION_SECRET, or the public development secret outside production. */
  secret: string;
  ttlMs: number;
};

export function encodeSession(secret: string, session: Session): string {
  return seal(
    secret,
    "session",
    { u: session.userId, c: session.csrfToken } satisfies SealedSession,
    session.expiresAt,
  );
}

export function decodeSession(secret: string, cookie: string | undefined, now = new Date()) {
  const opened = open<SealedSession & { e: number }>(secret, "session", cookie, now);
  if (!opened.ok) return opened;
  const { u, c, e } = opened.value;
  if (typeof u !== "string" || typeof c !== "string" || !u || !c)
    return { ok: false as const, reason: "forged" as const };
  return { ok: true as const, value: { userId: u, csrfToken: c, expiresAt: new Date(e * 1000) } satisfies Session };
}

const newCsrfToken = () => randomBytes(24).toString("base64url");

/** Signs `user` in on this response: a fresh session (and CSRF token) replaces any earlier one. */
export function startSession(req: Request, res: Response, settings: SessionSettings, user: User): void {
  const session = { userId: user.id, csrfToken: newCsrfToken(), expiresAt: new Date(Date.now() + settings.ttlMs) };
  res.cookie(sessionCookie, encodeSession(settings.secret, session), cookieOptions(req, settings.ttlMs));
  clearCookie(req, res, csrfCookie);
}

export function endSession(req: Request, res: Response): void {
  clearCookie(req, res, sessionCookie);
}

/**
 * For every page and API request: the session, if the cookie is Herald's, unexpired and names
 * a user the Directory still has (res.locals.session, res.locals.signedInUser), and the CSRF
 * token forms and page scripts send back (res.locals.csrfToken): the session's, or before
 * sign-in the `herald_csrf` cookie's, set here when missing. Requests with a bearer token are
 * API clients: they get no CSRF cookie.
 */
export function sessionContext(directory: Directory, settings: SessionSettings): RequestHandler {
  return (req, res, next) => {
    const cookies = cookiesOf(req);
    const opened = decodeSession(settings.secret, cookies.get(sessionCookie));
    const user = opened.ok ? directory.user(opened.value.userId) : undefined;
    if (opened.ok && user) {
      res.locals.session = opened.value;
      res.locals.signedInUser = user;
      res.locals.csrfToken = opened.value.csrfToken;
    } else {
      // Why a presented cookie does not sign anyone in, for the API's 401.
      res.locals.sessionRefusal = opened.ok ? "unknown" : opened.reason === "absent" ? undefined : opened.reason;
      if (!isBearer(req)) {
        const token = cookies.get(csrfCookie);
        if (token && /^[A-Za-z0-9_-]{32}$/.test(token)) res.locals.csrfToken = token;
        else {
          res.locals.csrfToken = newCsrfToken();
          res.cookie(csrfCookie, res.locals.csrfToken, cookieOptions(req, 24 * 60 * 60 * 1000));
        }
      }
    }
    next();
  };
}

/** An API client's request: `Authorization: Bearer …` (a proxy's Basic authentication is not ours). */
export const isBearer = (req: Request) => /^Bearer\s/i.test(req.get("authorization") ?? "");

/** The signed-in user of a page request, or undefined. */
export const signedInUser = (res: Response): User | undefined => res.locals.signedInUser as User | undefined;

const unsafeMethods = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const readForm = express.urlencoded({ extended: false, limit: "16kb" });

/**
 * Unsafe requests must send back the CSRF token (res.locals.csrfToken): as the X-CSRF-Token
 * header (page scripts, multipart uploads included), or as the `_csrf` field of a urlencoded
 * form (read here; a multipart body is not, so it streams on untouched). Another site can make
 * a browser send our cookies, but cannot read the token to send it along.
 */
export const requireCsrfToken: RequestHandler = (req, res, next) => {
  if (!unsafeMethods.has(req.method)) return next();
  const check = () => {
    const expected = res.locals.csrfToken as string | undefined;
    const body = req.body as Record<string, unknown> | undefined;
    const given = req.get("x-csrf-token") ?? (typeof body?._csrf === "string" ? body._csrf : undefined);
    if (expected && given && sameToken(given, expected)) return next();
    next(
      new CsrfError(
        given
          ? "The CSRF token does not match this session: reload the page and try again."
          : "A CSRF token is required: send the page's token as the X-CSRF-Token header or the _csrf form field.",
      ),
    );
  };
  if (req.is("application/x-www-form-urlencoded"))
    readForm(req, res, (error?: unknown) => (error ? next(error) : check()));
  else check();
};

/** 403 with its own problem type: the credentials were fine, the request did not come from our page. */
class CsrfError extends HeraldError {
  constructor(detail: string) {
    super(403, "csrf", "Forbidden", detail);
  }
}

const sameToken = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Pages: a signed-in user (res.locals.user), or a GET is sent to sign in and back (303 to
 * /signin?returnTo=<this path>); other methods are refused. Unsafe methods need the CSRF token.
 */
export const requireSignedIn: RequestHandler = (req, res, next) => {
  const user = signedInUser(res);
  if (!user) {
    if (req.method !== "GET" && req.method !== "HEAD") throw new UnauthorizedError("Sign in first.");
    res.redirect(303, `/signin?returnTo=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  res.locals.user = user;
  addLogContext({ userId: user.id });
  requireCsrfToken(req, res, next);
};
