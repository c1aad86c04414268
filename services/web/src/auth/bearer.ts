import type { RequestHandler } from "express";
import {
  addLogContext,
  type Directory,
  type Metrics,
  TooManyRequestsError,
  UnauthorizedError,
  type User,
} from "@herald/core";
import { tokenHash } from "@herald/core/adapters";
import { createRateWindow } from "../rate-limits.ts";
import { type AccessTokenVerifier, looksLikeJwt } from "./access-tokens.ts";
import { userForIdentity } from "./identity.ts";
import { isBearer, requireCsrfToken, type Session } from "./session.ts";

// Who calls /api, by one of three credentials:
// - `Authorization: Bearer <JWT>`: an access token from the identity provider (access-tokens.ts),
//   its user found by `sub` or verified email (identity.ts);
// - `Authorization: Bearer <token>`: one of the seed's static tokens, looked up by its hash,
//   unless revoked (TokenRevoked in the log);
// - no Authorization header: the website's session cookie (session.ts), and then unsafe
//   methods must carry the session's CSRF token, since a browser sends the cookie on its own.
// Failed attempts are counted per client address: past the limit, every attempt from that
// address is answered 429 until its minute is out, so a guesser gets a few tries a minute,
// not thousands a second.

export type AuthOptions = {
  isRevoked: (tokenHash: string) => boolean;
  metrics: Metrics;
  /** Failed authentications one client address may make per minute. */
  failuresPerMinute: number;
  /** The identity provider's JWT access tokens; null when HERALD_OIDC_AUDIENCE is not set. */
  verifyAccessToken: AccessTokenVerifier | null;
};

type Refusal = "missing" | "unknown" | "revoked" | "expired" | "invalid";

export function authenticate(
  directory: Directory,
  { isRevoked, metrics, failuresPerMinute, verifyAccessToken }: AuthOptions,
): RequestHandler {
  const failures = createRateWindow(60_000);
  return async (req, res, next) => {
    // req.ip: the client's address, or behind a proxy named in HERALD_TRUST_PROXY the one it
    // forwarded; keyed on the socket, every client of that proxy would share one budget.
    const client = req.ip ?? "unknown";
    const blockedFor = failures.blockedFor(client, failuresPerMinute);
    if (blockedFor > 0) {
      metrics.authFailures.inc({ reason: "throttled" });
      throw new TooManyRequestsError(
        "Too many failed authentications from this address; wait before trying again.",
        blockedFor,
      );
    }
    const refuse = (reason: Refusal, detail?: string) => {
      failures.add(client);
      metrics.authFailures.inc({ reason });
      return new UnauthorizedError(detail);
    };
    const signedIn = (user: User, via: "token" | "jwt" | "session") => {
      res.locals.user = user;
      res.locals.credential = via;
      addLogContext({ userId: user.id });
    };

    // Any other scheme (a proxy's Basic authentication) is not ours: the session decides.
    if (!isBearer(req)) {
      const session = res.locals.session as Session | undefined;
      const user = res.locals.signedInUser as User | undefined;
      if (!session || !user) {
        const refused = res.locals.sessionRefusal as "forged" | "expired" | "unknown" | undefined;
        if (refused === "expired") throw refuse("expired", "Your session has expired; sign in again.");
        if (refused)
          throw refuse(refused === "forged" ? "invalid" : "unknown", "Your session is not valid; sign in again.");
        throw refuse("missing", "A valid bearer token or a signed-in session is required.");
      }
      signedIn(user, "session");
      return requireCsrfToken(req, res, next);
    }

    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get("authorization")!);
    if (!match) throw refuse("missing", "The Authorization header must be `Bearer <token>`.");
    const token = match[1]!;
    if (verifyAccessToken && looksLikeJwt(token)) {
      const verified = await verifyAccessToken(token);
      if (!verified.ok) throw refuse(verified.reason, verified.detail);
      const user = userForIdentity(directory, verified.claims);
      if (!user) throw refuse("unknown", "This access token's user is not a Herald user.");
      signedIn(user, "jwt");
      return next();
    }
    const hash = tokenHash(token);
    const user = directory.userByTokenHash(hash);
    if (!user) throw refuse("unknown", "This token is not valid.");
    if (isRevoked(hash)) throw refuse("revoked", "This token has been revoked.");
    res.locals.tokenHash = hash;
    signedIn(user, "token");
    next();
  };
}
