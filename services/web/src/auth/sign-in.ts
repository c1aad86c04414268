import { type RequestHandler, Router } from "express";
import * as oidc from "openid-client";
import {
  BadRequestError,
  type Directory,
  ForbiddenError,
  HeraldError,
  type Logger,
  NotFoundError,
  UnavailableError,
  type User,
} from "@herald/core";
import { accessTokenVerifier } from "./access-tokens.ts";
import { userForIdentity } from "./identity.ts";
import { endSession, requireCsrfToken, type SessionSettings, startSession } from "./session.ts";
import { clearCookie, cookieOptions, cookiesOf, open, seal } from "./signed-cookie.ts";

// Signing in and out of the website:
//   GET  /signin/oidc?returnTo=  → the identity provider (authorization code + PKCE, state, nonce)
//   GET  /auth/callback          → code exchanged, the user mapped to a Herald user, session started
//   POST /signin/dev             → outside production only: sign in as a seeded user, no password
//   POST /signout                → the session cookie cleared
// The sign-in page itself (GET /signin) is a page (pages/), rendered from `signInOptions()`.
// Between leaving for the provider and coming back, the flow's secrets (PKCE verifier, state,
// nonce) and where to return wait in a short-lived signed cookie, not on the server: the
// callback may reach another replica.

export type OidcSettings = {
  issuer: string;
  clientId: string;
  /** From HERALD_OIDC_CLIENT_SECRET or the file HERALD_OIDC_CLIENT_SECRET_FILE names. Never logged. */
  clientSecret: string;
  /** Where the provider sends the browser back; null = /auth/callback on the address the browser used. */
  redirectUrl: string | null;
  scopes: string;
  /** The name on the sign-in button. */
  label: string;
  /** An http:// issuer, allowed outside production only (a provider on the developer's machine, tests). */
  allowHttp: boolean;
};

export type SignInSettings = {
  session: SessionSettings;
  oidc: OidcSettings | null;
  /** Sign-in by picking a seeded user: outside production only. */
  devSignIn: boolean;
  /** HERALD_OIDC_AUDIENCE: /api takes the provider's JWT access tokens for it; null = it takes none. */
  audience: string | null;
};

const transactionCookie = "herald_oidc";
const transactionPath = "/auth/callback";
/** How long a sign-in at the provider may take. */
const transactionTtlMs = 10 * 60_000;
/** PKCE verifier, state, nonce, where to return, and the redirect URI the provider was given. */
type Transaction = { v: string; s: string; n: string; r: string; u: string };

/** `value` if it is a path on this site: one leading "/", not "//" or "/\" (both other hosts to a browser). */
export function safeReturnTo(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 2048) return null;
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return null;
  // A browser drops tabs and newlines from URLs, so "/\t/evil.example" would become "//evil.example".
  if (/[\u0000-\u001f\u007f]/.test(value)) return null;
  return value;
}

export type SignIn = ReturnType<typeof createSignIn>;

export function createSignIn(deps: { directory: Directory; settings: SignInSettings; logger: Logger }) {
  const { directory, settings, logger } = deps;
  const provider = settings.oidc ? providerClient(settings.oidc, logger) : null;

  function signInOptions(): { oidc: { label: string } | null; devUsers: User[] | null } {
    return {
      oidc: settings.oidc ? { label: settings.oidc.label } : null,
      devUsers: settings.devSignIn ? directory.users() : null,
    };
  }

  const routes = Router();

  routes.get("/signin/oidc", async (req, res) => {
    if (!provider || !settings.oidc) throw new NotFoundError("Sign-in through an identity provider is not configured.");
    const config = await provider.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const transaction: Transaction = {
      v: verifier,
      s: oidc.randomState(),
      n: oidc.randomNonce(),
      r: safeReturnTo(req.query.returnTo) ?? "/",
      u: settings.oidc.redirectUrl ?? `${req.protocol}://${req.get("host")}${transactionPath}`,
    };
    const sealed = seal(settings.session.secret, "oidc", transaction, new Date(Date.now() + transactionTtlMs));
    res.cookie(transactionCookie, sealed, cookieOptions(req, transactionTtlMs, transactionPath));
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: transaction.u,
      scope: settings.oidc.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state: transaction.s,
      nonce: transaction.n,
    });
    res.redirect(303, url.href);
  });

  routes.get(transactionPath, async (req, res) => {
    if (!provider || !settings.oidc) throw new NotFoundError("Sign-in through an identity provider is not configured.");
    const opened = open<Transaction>(settings.session.secret, "oidc", cookiesOf(req).get(transactionCookie));
    clearCookie(req, res, transactionCookie, transactionPath);
    if (!opened.ok)
      throw new BadRequestError(
        opened.reason === "expired"
          ? "This sign-in took too long; sign in again."
          : "This sign-in was not started in this browser, or its cookie was lost; sign in again.",
      );
    const { v, s, n, r, u } = opened.value;
    if (typeof req.query.error === "string")
      throw new ForbiddenError(
        `The identity provider did not sign you in: ${String(req.query.error_description ?? req.query.error)}.`,
      );
    const config = await provider.configuration();
    // The URL the provider sent the browser to, as the provider knows it (behind a proxy the
    // request's own host and scheme may differ).
    const currentUrl = new URL(u);
    currentUrl.search = new URL(req.originalUrl, "http://callback").search;
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: v,
        expectedState: s,
        expectedNonce: n,
        idTokenExpected: true,
      });
      claims = { ...tokens.claims() };
      // Many providers put the email in the userinfo answer, not in the ID token.
      if (typeof claims.email !== "string")
        claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub as string)), ...claims };
    } catch (error) {
      throw refusedByProvider(error);
    }
    const user = userForIdentity(directory, claims);
    if (!user) {
      logger.warn({ sub: claims.sub, email: claims.email }, "signed in at the identity provider, unknown to Herald");
      throw new UnknownUserError(typeof claims.email === "string" ? claims.email : String(claims.sub));
    }
    startSession(req, res, settings.session, user);
    logger.info({ userId: user.id, via: "oidc" }, "signed in");
    res.redirect(303, r);
  });

  const devOnly: RequestHandler = (_req, _res, next) => {
    if (!settings.devSignIn) throw new NotFoundError("Signing in as a seeded user is for development only.");
    next();
  };
  // requireCsrfToken reads the urlencoded form; the token is the herald_csrf cookie's.
  routes.post("/signin/dev", devOnly, requireCsrfToken, (req, res) => {
    const body = req.body as Record<string, unknown>;
    const user = typeof body.userId === "string" ? directory.user(body.userId) : undefined;
    if (!user) throw new BadRequestError("Pick one of the seeded users to sign in as.");
    startSession(req, res, settings.session, user);
    logger.info({ userId: user.id, via: "dev" }, "signed in");
    res.redirect(303, safeReturnTo(body.returnTo) ?? "/");
  });

  routes.post("/signout", requireCsrfToken, (req, res) => {
    endSession(req, res);
    res.redirect(303, "/signin");
  });

  const verifyAccessToken =
    provider && settings.audience
      ? accessTokenVerifier({
          audience: settings.audience,
          provider: async () => (await provider.configuration()).serverMetadata(),
        })
      : null;

  return { routes, signInOptions, safeReturnTo, verifyAccessToken };
}

/** Signed in at the identity provider, but nobody Herald knows. */
class UnknownUserError extends HeraldError {
  constructor(who: string) {
    super(
      403,
      "unknown-user",
      "Not a Herald user",
      `You signed in as ${who}, but Herald has no user for that account. Ask an administrator to add you.`,
    );
  }
}

function refusedByProvider(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  if (error instanceof oidc.AuthorizationResponseError)
    return new ForbiddenError(`The identity provider did not sign you in: ${error.error_description ?? error.error}.`);
  if (error instanceof oidc.ResponseBodyError || error instanceof oidc.ClientError)
    return new BadRequestError(`The sign-in could not be completed (${error.message}); sign in again.`);
  return new UnavailableError("The identity provider does not answer; try again shortly.", { cause: error });
}

/**
 * The provider's configuration, discovered when first needed and kept: Herald starts while the
 * provider is away, and a failed discovery is tried again on the next sign-in.
 */
function providerClient(settings: OidcSettings, logger: Logger) {
  let discovered: Promise<oidc.Configuration> | undefined;
  const discover = async () => {
    try {
      return await oidc.discovery(
        new URL(settings.issuer),
        settings.clientId,
        undefined,
        oidc.ClientSecretPost(settings.clientSecret),
        settings.allowHttp ? { execute: [oidc.allowInsecureRequests] } : undefined,
      );
    } catch (error) {
      discovered = undefined;
      logger.warn({ err: error, issuer: settings.issuer }, "identity provider discovery failed");
      throw new UnavailableError("The identity provider does not answer; try again shortly.", { cause: error });
    }
  };
  return {
    configuration: () => (discovered ??= discover()),
  };
}

export type ProviderClient = ReturnType<typeof providerClient>;
