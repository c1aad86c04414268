import { readFileSync } from "node:fs";
import { withoutInvisibleFormatting } from "@herald/core";
import Handlebars from "handlebars";

// The emails: one upload's notification, and a daily digest of a group's uploads; subject,
// text and HTML from Handlebars templates beside this package. HTML is escaped by Handlebars;
// the subject and text are plain text. Every value put into them is user input (names,
// filenames), so each goes through `withoutInvisibleFormatting` first, and the subject also
// through `subjectPart`: one line, no encoded words, and a length a mail client can show.

export type UploadEmailContext = {
  recipientName: string;
  uploaderName: string;
  groupName: string;
  filename: string;
  sizeBytes: number;
  sha256: string;
  link: string;
};

/** A daily digest: the group's uploads in the window, times shown in the admin's zone. */
export type DigestEmailContext = {
  recipientName: string;
  groupName: string;
  /** The window, as the admin's clock shows it. */
  windowStart: string;
  windowEnd: string;
  /** The admin's time zone (IANA name), which the times are shown in. */
  timeZone: string;
  uploads: Array<{ filename: string; sizeBytes: number; uploaderName: string; time: string; link: string }>;
};

const templatesDir = new URL("../templates/", import.meta.url);
const load = (email: string, part: string, options?: CompileOptions) =>
  Handlebars.compile(readFileSync(new URL(`${email}.${part}.hbs`, templatesDir), "utf8"), {
    strict: true,
    ...options,
  });

type CompileOptions = Parameters<typeof Handlebars.compile>[1];

const subject = load("upload-notification", "subject", { noEscape: true });
const text = load("upload-notification", "text", { noEscape: true });
const html = load("upload-notification", "html");
const digest = {
  subject: load("digest", "subject", { noEscape: true }),
  text: load("digest", "text", { noEscape: true }),
  html: load("digest", "html"),
};

/** The names the subject template shows beside the filename. */
const subjectNames = new Set(["groupName", "uploaderName"]);
/** Subjects longer than this are cut, ending with "…": far inside RFC 5322's 998-octet line once encoded. */
const SUBJECT_MAX = 200;
/** Group and uploader names get at most this much of the subject, so the filename always has room. */
const SUBJECT_NAME_MAX = 60;

export function renderUploadEmail(context: UploadEmailContext) {
  const values = { ...mapStrings(context, withoutInvisibleFormatting), size: formatSize(context.sizeBytes) };
  return {
    subject: renderSubject(values),
    text: text(values),
    html: html(values),
  };
}

export function renderDigestEmail(context: DigestEmailContext) {
  const clean = mapStrings(context, withoutInvisibleFormatting);
  // One line each: a filename with line breaks must not make up entries of its own.
  const uploads = context.uploads.map((upload) => ({
    ...mapStrings(upload, (s) => oneLine(withoutInvisibleFormatting(s))),
    size: formatSize(upload.sizeBytes),
  }));
  const values = { ...clean, uploads, count: uploads.length, one: uploads.length === 1 };
  return {
    subject: shorten(
      noEncodedWords(oneLine(digest.subject({ ...values, groupName: subjectPart(clean.groupName, SUBJECT_NAME_MAX) }))),
      SUBJECT_MAX,
    ),
    text: digest.text(values),
    html: digest.html(values),
  };
}

/**
 * Line breaks and other control characters (CR, LF, tabs, NEL, U+2028/U+2029, C0 and C1
 * controls) collapse to single spaces, so no input can start a new mail header.
 */
export const oneLine = (s: string) => collapse(s).trim();
const collapse = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s+/g, " ");

/**
 * Mail clients decode RFC 2047 encoded words (`=?UTF-8?B?...?=`) in a Subject, many even when
 * glued to other text, so a filename spelled as one would show as whatever text it encodes.
 * A space after every "=" that could start one leaves the text readable as typed but no longer
 * an encoded word. (Real non-ASCII needs nothing from us: nodemailer encodes it.)
 */
const noEncodedWords = (s: string) => s.replace(/=\?/g, "= ?");

/** A value as it may stand in the subject: on one line, with no encoded word. */
const subjectPart = (s: string, max: number) => shorten(noEncodedWords(collapse(s)), max);

/**
 * The subject from its template, cut to SUBJECT_MAX: each name to SUBJECT_NAME_MAX, then the
 * filename (the part that can be any length) to what is left, so a long subject still reads
 * "[group] uploader uploaded start-of-the-filename…".
 */
function renderSubject(values: UploadEmailContext & { size: string }): string {
  const render = (parts: typeof values) => noEncodedWords(oneLine(subject(parts)));
  // Only the names the subject shows are prepared for it; the rest (link, checksum) are not in it.
  const parts = mapStrings(values, (s, key) =>
    key === "filename" ? subjectPart(s, Infinity) : subjectNames.has(key) ? subjectPart(s, SUBJECT_NAME_MAX) : s,
  );
  const full = render(parts);
  const over = full.length - SUBJECT_MAX;
  if (over <= 0) return full;
  return shorten(render({ ...parts, filename: shorten(parts.filename, parts.filename.length - over) }), SUBJECT_MAX);
}

/** The same object with `f` applied to each string value; absent keys stay absent, for strict templates. */
const mapStrings = <T extends object>(o: T, f: (s: string, key: string) => string): T =>
  Object.fromEntries(
    Object.entries(o).map(([key, value]) => [key, typeof value === "string" ? f(value, key) : value]),
  ) as T;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** At most `max` UTF-16 units, cut between user-perceived characters and ending with "…" when cut. */
function shorten(s: string, max: number): string {
  if (s.length <= max) return s;
  let kept = "";
  for (const { segment } of graphemes.segment(s)) {
    if (kept.length + segment.length > max - 1) break;
    kept += segment;
  }
  return `${kept.trimEnd()}…`;
}

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
