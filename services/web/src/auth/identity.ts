import type { Directory, User } from "@herald/core";

// Who an identity provider's user is in Herald. Group membership stays Herald's (the
// Directory); the IdP only vouches for who signed in. First by `sub`, when the seed maps it
// (the stable id: an email address can change hands); else by email, only when the IdP says
// it verified the address: an unverified one is whatever the user typed.

export type IdentityClaims = { sub?: unknown; email?: unknown; email_verified?: unknown };

export function userForIdentity(directory: Directory, claims: IdentityClaims): User | undefined {
  if (typeof claims.sub === "string" && claims.sub) {
    const bySubject = directory.userBySubject(claims.sub);
    if (bySubject) return bySubject;
  }
  if (typeof claims.email === "string" && claims.email && claims.email_verified === true)
    return directory.userByEmail(claims.email);
  return undefined;
}
