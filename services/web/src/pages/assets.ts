import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { Router } from "express";
import { NotFoundError } from "@herald/core";

// The pages' static files (services/web/public), each served under a name that carries a hash
// of its bytes (/assets/app.3f2a1c9d0e.js), computed at start. A changed file is a new URL, so
// every copy of the old one, in browsers or in a CDN in front, may be kept for a year without
// ever being stale: `immutable` tells browsers not even to revalidate it.

const publicDir = new URL("../../public/", import.meta.url);

const types: Record<string, string> = { ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

export type Assets = {
  /** The URL of a file of public/ by its plain name: "app.js" → "/assets/app.<hash>.js". */
  url(name: string): string;
  routes(): Router;
};

export function loadAssets(): Assets {
  const byName = new Map<string, string>();
  const byHashedName = new Map<string, { bytes: Buffer; type: string }>();
  for (const name of readdirSync(publicDir)) {
    const ext = extname(name);
    const type = types[ext];
    if (!type) continue;
    const bytes = readFileSync(new URL(name, publicDir));
    const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
    const hashedName = `${name.slice(0, -ext.length)}.${hash}${ext}`;
    byName.set(name, `/assets/${hashedName}`);
    byHashedName.set(hashedName, { bytes, type });
  }
  return {
    url(name) {
      const url = byName.get(name);
      if (!url) throw new Error(`No asset ${name} in services/web/public`);
      return url;
    },
    routes() {
      const router = Router();
      router.get("/assets/:file", (req, res) => {
        const asset = byHashedName.get(req.params.file);
        // An old hash is a file this version does not have: 404, never another version's bytes.
        if (!asset) throw new NotFoundError(`No asset ${req.params.file}.`);
        res.set("Cache-Control", "public, max-age=31536000, immutable").type(asset.type).send(asset.bytes);
      });
      return router;
    },
  };
}
