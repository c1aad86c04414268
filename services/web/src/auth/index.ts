// Authentication and sign-in for the web: who is asking (API credentials, the website's
// session), what they may do in a group, and the sign-in and sign-out routes.
export { currentUser, requireGroupRole, type Role } from "./access.ts";
export { authenticate, type AuthOptions } from "./bearer.ts";
export { accessTokenVerifier } from "./access-tokens.ts";
export { requireCsrfToken, requireSignedIn, sessionContext, signedInUser } from "./session.ts";
export { createSignIn, safeReturnTo, type SignIn, type SignInSettings } from "./sign-in.ts";
export { signInSettings } from "./settings.ts";
