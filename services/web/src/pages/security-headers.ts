import type { RequestHandler } from "express";
import helmet from "helmet";

// Security headers, chosen per request by how it reached us. Over HTTPS (directly, or through a
// proxy HERALD_TRUST_PROXY trusts): HSTS and `upgrade-insecure-requests`. Over plain HTTP,
// neither: they would send the browser to an https:// the server does not have, and the page
// would load without its script and style (what helmet's defaults did to every host but
// localhost). The rest is the same for both: scripts and styles only from our own origin, no
// plugins, no framing by other sites, nosniff, no referrer.

const contentSecurityPolicy = {
  useDefaults: true,
  directives: {
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
  },
};

const overHttps = helmet({
  contentSecurityPolicy: {
    ...contentSecurityPolicy,
    directives: { ...contentSecurityPolicy.directives, "upgrade-insecure-requests": [] },
  },
  // A year, for this host only: other hosts of the domain are not Herald's to decide.
  strictTransportSecurity: { maxAge: 365 * 24 * 60 * 60, includeSubDomains: false },
});

const overHttp = helmet({
  contentSecurityPolicy: {
    ...contentSecurityPolicy,
    directives: { ...contentSecurityPolicy.directives, "upgrade-insecure-requests": null },
  },
  strictTransportSecurity: false,
});

export const securityHeaders: RequestHandler = (req, res, next) => (req.secure ? overHttps : overHttp)(req, res, next);
