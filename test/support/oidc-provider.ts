import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import Provider, { errors } from "oidc-provider";
import { CookieJar } from "./cookie-jar.ts";

// A real OpenID Connect identity provider for tests: `oidc-provider` (v9) on 127.0.0.1, port 0.
// It warns that Node 20 is not its supported runtime; that is fine for tests.
//
// What it has:
// - One confidential client (`clientId`/`clientSecret`, client_secret_post; PKCE S256 required),
//   allowed the redirect URIs the test gives, any http://<loopback address>:<any port>/auth/callback
//   (Herald on port 0), and `testRedirectUri` for tokens fetched here.
// - Accounts for the demo seed's users, sub = login name: alice, bob, carol, dave (emails
//   alice@example.test ..., email_verified true), and `mallory` (mallory@elsewhere.test), whom
//   Herald does not know. Any other login name is refused by the provider.
// - Consent is taken as given (a first-party client): after the login form the browser goes
//   straight back to the client.
// - Access tokens for the resource `audience` (request it with the `resource` parameter) are
//   JWTs (RFC 9068, RS256, 5 minutes), carrying `email` and `email_verified` as Keycloak's do.
//   Without a `resource` the access token is the provider's opaque one, for its userinfo.
//
// How a browser signs in (the provider's development login page, `devInteractions`):
// the page at /interaction/<uid> has a form with a text field `login` (placeholder "Enter any
// login") and a password field `password` (placeholder "and password"): type the account's
// login name (e.g. `alice`) and any non-empty password, then press the "Sign-in" button. The
// browser is redirected to the client's redirect URI with `code` and `state`. In Playwright:
//   await page.fill('input[name="login"]', "alice");
//   await page.fill('input[name="password"]', "any");
//   await page.click('button[type="submit"]');
//
// Without a browser, `signIn(authorizationUrl, "alice")` does the same with fetch and returns
// the URL the provider redirects to (the client's redirect URI with code and state).

export type TestAccount = { login: string; email: string; name: string };

/** The demo seed's users (services/core/src/adapters/directory/seed-directory.ts), and one Herald does not know. */
export const testAccounts: TestAccount[] = [
  { login: "alice", email: "alice@example.test", name: "Alice Admin" },
  { login: "bob", email: "bob@example.test", name: "Bob Admin" },
  { login: "carol", email: "carol@example.test", name: "Carol Member" },
  { login: "dave", email: "dave@example.test", name: "Dave Outsider" },
  { login: "mallory", email: "mallory@elsewhere.test", name: "Mallory Unknown" },
];

export type TestProviderOptions = {
  /** Redirect URIs the client may use (Herald's /auth/callback); `testRedirectUri` is always allowed. */
  redirectUris?: string[];
  /** The API's audience (HERALD_OIDC_AUDIENCE), an absolute URI as resource indicators must be; default "urn:herald:api". */
  audience?: string;
  accounts?: TestAccount[];
};

export type TestProvider = {
  /** HERALD_OIDC_ISSUER: http://127.0.0.1:<port> */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The resource whose access tokens are JWTs (HERALD_OIDC_AUDIENCE). */
  audience: string;
  /** A redirect URI nobody listens on: flows driven by signIn/accessTokenFor stop at it. */
  testRedirectUri: string;
  /** Herald's OIDC settings pointing at this provider. */
  heraldEnv(redirectUrl?: string): Record<string, string>;
  /**
   * Drives the provider's part of a code flow without a browser: opens `authorizationUrl`,
   * posts the login form as `login`, and returns the URL the provider redirects to (the
   * client's redirect URI with `code` and `state`, or `error`).
   */
  signIn(authorizationUrl: string, login: string): Promise<URL>;
  /** A real access token from the provider's token endpoint (code flow with PKCE) for `login`, for `audience`. */
  accessTokenFor(login: string): Promise<string>;
  /**
   * A JWT signed with the provider's own key, valid against its JWKS, with the claims given
   * (defaults: this issuer, `audience`, 5 minutes, the account's email). For tokens the
   * provider would not issue: expired ones, other audiences.
   */
  mintAccessToken(login: string, claims?: JWTPayload & { expiresInSeconds?: number }): Promise<string>;
  stop(): Promise<void>;
};

export async function startTestProvider(options: TestProviderOptions = {}): Promise<TestProvider> {
  const audience = options.audience ?? "urn:herald:api";
  const accounts = new Map((options.accounts ?? testAccounts).map((a) => [a.login, a]));
  const clientId = "herald";
  const clientSecret = randomBytes(24).toString("base64url");
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = randomBytes(8).toString("hex");
  const signingKey = { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };

  // The issuer URL holds the port, known only once listening: the server starts first.
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const testRedirectUri = `${issuer}/test-callback`;

  const claimsOf = (account: TestAccount) => ({
    sub: account.login,
    email: account.email,
    email_verified: true,
    name: account.name,
  });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [...(options.redirectUris ?? []), testRedirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(24).toString("base64url")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== audience) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope: "api",
            audience,
            accessTokenFormat: "jwt",
            accessTokenTTL: 300,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    async findAccount(_ctx: unknown, sub: string) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => claimsOf(account) };
    },
    // The access token for the API names the user by email too, as Keycloak's do.
    async extraTokenClaims(_ctx: unknown, token: { accountId?: string; aud?: unknown }) {
      const account = token.accountId ? accounts.get(token.accountId) : undefined;
      if (!account) return undefined;
      return { email: account.email, email_verified: true };
    },
    // A first-party client: consent is given with the login, so the browser sees one form.
    async loadExistingGrant(ctx: {
      oidc: {
        provider: Provider;
        client: { clientId: string };
        session: { accountId: string; grantIdFor(clientId: string): string | undefined };
        params: { scope?: string; resource?: string | string[] };
      };
    }) {
      const { provider, client, session, params } = ctx.oidc;
      const existing = session.grantIdFor(client.clientId);
      if (existing) return provider.Grant.find(existing);
      const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
      grant.addOIDCScope(params.scope ?? "openid");
      for (const resource of [params.resource ?? []].flat()) grant.addResourceScope(resource, "api");
      await grant.save();
      return grant;
    },
    ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 300, IdToken: 300 },
  });
  // Herald listens on port 0, so its callback's port is known only after this provider (whose
  // issuer Herald's config names) has started: any loopback /auth/callback is accepted too.
  const registered = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function (this: unknown, uri: string) {
    return isLoopbackCallback(uri) || registered.call(this, uri);
  };
  handle = provider.callback();

  async function signIn(authorizationUrl: string, login: string): Promise<URL> {
    const jar = new CookieJar();
    // The provider redirects through /interaction/<uid> (the login page) and /auth/<uid>
    // (resume); the first redirect away from the provider is the answer.
    let response = await jar.fetch(authorizationUrl);
    for (let hops = 0; hops < 10; hops++) {
      const location = response.headers.get("location");
      if (response.status === 200 && /name="login"/.test(await response.clone().text())) {
        const action = /<form[^>]*action="([^"]+)"/.exec(await response.text())?.[1];
        if (!action) throw new Error("the provider's login page has no form");
        response = await jar.fetch(new URL(action.replaceAll("&amp;", "&"), issuer).href, {
          method: "POST",
          body: new URLSearchParams({ prompt: "login", login, password: "any" }),
        });
        continue;
      }
      if (!location) throw new Error(`the provider answered ${response.status}: ${await response.text()}`);
      const next = new URL(location, response.url || issuer);
      if (next.origin !== issuer || next.pathname === "/test-callback") return next;
      response = await jar.fetch(next.href);
    }
    throw new Error("the provider redirected too many times");
  }

  async function accessTokenFor(login: string): Promise<string> {
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const authorize = new URL(`${issuer}/auth`);
    authorize.search = new URLSearchParams({
      client_id: clientId,
      response_type: "code",
      redirect_uri: testRedirectUri,
      scope: "openid email api",
      resource: audience,
      state: randomBytes(8).toString("hex"),
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    const back = await signIn(authorize.href, login);
    const code = back.searchParams.get("code");
    if (!code) throw new Error(`no code for ${login}: ${back.searchParams.get("error_description") ?? back.href}`);
    const response = await fetch(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: testRedirectUri,
        code_verifier: verifier,
        client_id: clientId,
        client_secret: clientSecret,
        resource: audience,
      }),
    });
    const body = (await response.json()) as { access_token?: string; error_description?: string };
    if (!body.access_token) throw new Error(`no access token for ${login}: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  async function mintAccessToken(login: string, claims: JWTPayload & { expiresInSeconds?: number } = {}) {
    const { expiresInSeconds = 300, ...rest } = claims;
    const account = accounts.get(login);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      email: account?.email,
      email_verified: account ? true : undefined,
      client_id: clientId,
      scope: "api",
      iss: issuer,
      aud: audience,
      sub: login,
      iat: now,
      exp: now + expiresInSeconds,
      jti: randomBytes(8).toString("hex"),
      ...rest,
    })
      .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid })
      .sign(privateKey);
  }

  return {
    issuer,
    clientId,
    clientSecret,
    audience,
    testRedirectUri,
    heraldEnv: (redirectUrl?: string) => ({
      HERALD_OIDC_ISSUER: issuer,
      HERALD_OIDC_CLIENT_ID: clientId,
      HERALD_OIDC_CLIENT_SECRET: clientSecret,
      HERALD_OIDC_AUDIENCE: audience,
      ...(redirectUrl ? { HERALD_OIDC_REDIRECT_URL: redirectUrl } : {}),
    }),
    signIn,
    accessTokenFor,
    mintAccessToken,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}

/** http(s)://127.x.x.x or localhost, any port, path /auth/callback: Herald started by a test. */
function isLoopbackCallback(uri: string): boolean {
  try {
    const url = new URL(uri);
    return /^(127(\.\d{1,3}){3}|localhost)$/.test(url.hostname) && url.pathname === "/auth/callback";
  } catch {
    return false;
  }
}
