import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { UnavailableError } from "@herald/core";

// The identity provider's JWT access tokens, as /api takes them from API clients: signed by a
// key in the provider's JWKS (fetched, cached and refreshed by jose), issued by the configured
// issuer, for Herald's audience, not expired. Only asymmetric algorithms are accepted, named:
// never `none`, never an HMAC (whose "key" would be the public JWKS), whatever the token says.

const acceptedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/** Two seconds of clock difference between the provider and us are forgiven, no more. */
const clockToleranceSeconds = 2;

export type VerifiedAccessToken =
  { ok: true; claims: JWTPayload } | { ok: false; reason: "expired" | "invalid"; detail: string };

export type AccessTokenVerifier = (token: string) => Promise<VerifiedAccessToken>;

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
/** A bearer token that is a JWT (three base64url parts), as opposed to one of the seed's static tokens. */
export const looksLikeJwt = (token: string) => jwtShape.test(token);

export function accessTokenVerifier(options: {
  audience: string;
  /** The provider's issuer and jwks_uri, from its discovery document: asked for when first needed. */
  provider: () => Promise<{ issuer: string; jwks_uri?: string }>;
}): AccessTokenVerifier {
  let verifying: { issuer: string; keys: ReturnType<typeof createRemoteJWKSet> } | undefined;
  const discover = async () => {
    const metadata = await options.provider().catch((error) => {
      throw new UnavailableError("The identity provider does not answer; try again shortly.", { cause: error });
    });
    if (!metadata.jwks_uri) throw new UnavailableError("The identity provider publishes no signing keys (jwks_uri).");
    return { issuer: metadata.issuer, keys: createRemoteJWKSet(new URL(metadata.jwks_uri)) };
  };
  return async (token) => {
    verifying ??= await discover();
    const { issuer, keys } = verifying;
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience: options.audience,
        algorithms: acceptedAlgorithms,
        requiredClaims: ["sub", "exp"],
        clockTolerance: clockToleranceSeconds,
      });
      return { ok: true, claims: payload };
    } catch (error) {
      if (error instanceof errors.JWTExpired)
        return { ok: false, reason: "expired", detail: "This access token has expired." };
      if (error instanceof errors.JWTClaimValidationFailed)
        return {
          ok: false,
          reason: "invalid",
          detail: `This access token is not for Herald: its ${error.claim} claim is not accepted.`,
        };
      if (
        error instanceof errors.JWKSTimeout ||
        error instanceof errors.JWKSInvalid ||
        !(error instanceof errors.JOSEError)
      )
        throw new UnavailableError("The identity provider's signing keys could not be read; try again shortly.", {
          cause: error,
        });
      return { ok: false, reason: "invalid", detail: "This access token is not valid." };
    }
  };
}
