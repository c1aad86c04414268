import { readFileSync } from "node:fs";
import Handlebars from "handlebars";

// The email for one upload notification: subject, text and HTML from Handlebars templates
// beside this package. HTML is escaped by Handlebars; the subject and text are plain text,
// and the subject is flattened to one line so no input can add a mail header.

export type UploadEmailContext = {
  recipientName: string;
  uploaderName: string;
  groupName: string;
  filename: string;
  sizeBytes: number;
  sha256: string;
  link: string;
};

const templatesDir = new URL("../templates/", import.meta.url);
const load = (name: string, options?: CompileOptions) =>
  Handlebars.compile(readFileSync(new URL(`upload-notification.${name}.hbs`, templatesDir), "utf8"), {
    strict: true,
    ...options,
  });

type CompileOptions = Parameters<typeof Handlebars.compile>[1];

const subject = load("subject", { noEscape: true });
const text = load("text", { noEscape: true });
const html = load("html");

export function renderUploadEmail(context: UploadEmailContext) {
  const values = { ...context, size: formatSize(context.sizeBytes) };
  return {
    subject: oneLine(subject(values)),
    text: text(values),
    html: html(values),
  };
}

/** Control characters (CR, LF, tabs, ...) collapse to single spaces. */
export const oneLine = (s: string) =>
  s
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();

export function formatSize(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 ? String(value) : value.toFixed(1);
  return unit === 0 ? `${shown} ${bytes === 1 ? "byte" : "bytes"}` : `${shown} ${units[unit]} (${bytes} bytes)`;
}
