import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Response } from "express";
import Handlebars from "handlebars";
import type { User } from "@herald/core";
import type { Assets } from "./assets.ts";

// The pages' Handlebars views (services/web/views): one layout, partials, and a view per
// page, all compiled once at start. Handlebars escapes every value; the only raw HTML is what
// the helpers below build from escaped parts.

const viewsDir = new URL("../../views/", import.meta.url);

/** What every page is rendered with, besides its own context. */
export type PageContext = { title: string; [key: string]: unknown };

export type Views = {
  /** Renders a page into the layout and sends it (never cached: pages show one user's data). */
  render(res: Response, page: string, context: PageContext, status?: number): void;
};

export function createViews(assets: Assets): Views {
  const hbs = Handlebars.create();
  const read = (path: string) => readFileSync(new URL(path, viewsDir), "utf8");
  const templates = (folder: string) =>
    readdirSync(new URL(`${folder}/`, viewsDir))
      .filter((name) => name.endsWith(".hbs"))
      .map((name) => [basename(name, ".hbs"), read(`${folder}/${name}`)] as const);

  hbs.registerHelper("asset", (name: string) => assets.url(name));
  // Server-side a time is shown in UTC; the page's script rewrites it in the reader's own zone
  // and language from `datetime`, which stays the exact instant.
  hbs.registerHelper("time", (iso: unknown) => {
    if (typeof iso !== "string" || iso === "") return "";
    const shown = `${iso.slice(0, 16).replace("T", " ")} UTC`;
    return new hbs.SafeString(`<time datetime="${hbs.escapeExpression(iso)}">${hbs.escapeExpression(shown)}</time>`);
  });
  hbs.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  for (const [name, source] of templates("partials")) hbs.registerPartial(name, source);

  const layout = hbs.compile(read("layout.hbs"));
  const pages = new Map(templates("pages").map(([name, source]) => [name, hbs.compile(source)]));

  return {
    render(res, page, context, status = 200) {
      const template = pages.get(page);
      if (!template) throw new Error(`No view pages/${page}.hbs`);
      const locals = {
        user: (res.locals.user as User | undefined) ?? null,
        csrfToken: (res.locals.csrfToken as string | undefined) ?? "",
        ...context,
      };
      const body = new hbs.SafeString(template(locals));
      res
        .status(status)
        .set("Cache-Control", "private, no-store")
        .type("html")
        .send(layout({ ...locals, body }));
    },
  };
}
