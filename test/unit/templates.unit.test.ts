import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { simpleParser } from "mailparser";
import nodemailer from "nodemailer";
import { formatSize, oneLine, renderUploadEmail, type UploadEmailContext } from "@herald/notifier";

const context: UploadEmailContext = {
  recipientName: "Alice Admin",
  uploaderName: "Carol Member",
  groupName: "Design Team",
  filename: "plan.pdf",
  sizeBytes: 2_500_000,
  sha256: "ab".repeat(32),
  link: "https://herald.example.test/groups/design/uploads/u-1",
};

describe("the upload email", () => {
  it("names the group, the file and the uploader in the subject", () => {
    assert.equal(renderUploadEmail(context).subject, "[Design Team] Carol Member uploaded plan.pdf");
  });

  it("names uploader, file, size and links to the upload in both bodies", () => {
    const { text, html } = renderUploadEmail(context);
    for (const body of [text, html]) {
      assert.match(body, /Hello Alice Admin/);
      assert.match(body, /Carol Member/);
      assert.match(body, /plan\.pdf/);
      assert.match(body, /2\.4 MiB \(2500000 bytes\)/);
      assert.ok(body.includes(context.link));
    }
    assert.match(html, /<a href="https:\/\/herald\.example\.test\/groups\/design\/uploads\/u-1">/);
  });

  it("escapes markup from user input in the HTML body", () => {
    const { html, text } = renderUploadEmail({ ...context, filename: `<img src=x onerror="alert(1)">.png` });
    assert.ok(!html.includes("<img"), html);
    assert.ok(html.includes("&lt;img src"), "shown as text");
    assert.ok(text.includes(`<img src=x onerror="alert(1)">.png`), "plain text stays plain");
  });

  it("keeps the subject on one line, so no input can add a header", () => {
    const { subject } = renderUploadEmail({
      ...context,
      filename: "a.txt\r\nBcc: victim@example.test",
      groupName: "G\n",
    });
    assert.equal(subject, "[G ] Carol Member uploaded a.txt Bcc: victim@example.test");
    assert.ok(!/[\r\n]/.test(subject));
  });

  it("writes sizes for people", () => {
    assert.equal(formatSize(0), "0 bytes");
    assert.equal(formatSize(1), "1 byte");
    assert.equal(formatSize(1023), "1023 bytes");
    assert.equal(formatSize(1536), "1.5 KiB (1536 bytes)");
    assert.equal(formatSize(5 * 1024 ** 3), "5.0 GiB (5368709120 bytes)");
  });

  it("refuses to render with a missing value rather than send a blank", () => {
    const { groupName: _, ...partial } = context;
    assert.throws(() => renderUploadEmail(partial as UploadEmailContext), /groupName/);
  });
});

/** The subject as a mail client shows it: built by nodemailer as Herald sends it, then decoded. */
async function subjectAsReceived(subject: string): Promise<string | undefined> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  const info = await transport.sendMail({ from: "herald@example.test", to: "alice@example.test", subject, text: "x" });
  return (await simpleParser(info.message as Buffer)).subject;
}

const encodedWord = (charset: string, encoding: "B" | "Q", text: string) =>
  `=?${charset}?${encoding}?${encoding === "B" ? Buffer.from(text).toString("base64") : text.replaceAll(" ", "_")}?=`;
const decodableEncodedWord = /=\?[^?\s]+\?[bq]\?[^?\s]*\?=/i;
const invisible = ["\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067", "\u2068", "\u2069"].concat([
  "\u200E",
  "\u200F",
  "\u061C",
  "\u200B",
  "\u200C",
  "\u200D",
  "\u2060",
  "\uFEFF",
]);
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe("the upload email, with hostile names", () => {
  it("shows a filename that looks like an encoded word as typed, not decoded into a spoofed subject", async () => {
    const spoof = encodedWord("UTF-8", "B", "URGENT: reset your password");
    const { subject } = renderUploadEmail({ ...context, filename: `${spoof}.pdf` });
    assert.doesNotMatch(subject, decodableEncodedWord);
    assert.ok(subject.startsWith("[Design Team] Carol Member uploaded "), subject);
    assert.ok(subject.includes("UTF-8?B?"), `the reader still sees what the name was: ${subject}`);
    const received = await subjectAsReceived(subject);
    assert.equal(received, subject, "the client decodes nothing the subject did not say");
    assert.ok(!received?.includes("URGENT"), received);
  });

  it("neutralises encoded words in group and uploader names too, Q or B, any case, even glued to text", async () => {
    const { subject } = renderUploadEmail({
      ...context,
      groupName: encodedWord("utf-8", "Q", "Security Team"),
      uploaderName: encodedWord("iso-8859-1", "B", "IT Support"),
      filename: `x${encodedWord("UTF-8", "Q", "Your account is locked")}y.txt`,
    });
    assert.doesNotMatch(subject, decodableEncodedWord);
    const received = await subjectAsReceived(subject);
    assert.equal(received, subject);
    for (const spoofed of ["Security Team", "IT Support", "account is locked"])
      assert.ok(!received?.includes(spoofed), received);
  });

  it("stays neutral when non-ASCII makes nodemailer encode the subject itself", async () => {
    const spoof = encodedWord("UTF-8", "B", "Payment confirmed");
    const { subject } = renderUploadEmail({ ...context, groupName: "Équipe", filename: spoof });
    const received = await subjectAsReceived(subject);
    assert.equal(received, subject);
    assert.doesNotMatch(received ?? "", decodableEncodedWord);
  });

  it("drops bidi overrides, so invoice<RLO>txt.exe does not display as invoiceexe.txt", () => {
    const { subject, text, html } = renderUploadEmail({ ...context, filename: "invoice\u202Etxt.exe" });
    assert.equal(subject, "[Design Team] Carol Member uploaded invoicetxt.exe");
    for (const rendered of [subject, text, html]) {
      assert.ok(rendered.includes("invoicetxt.exe"), rendered);
      assert.ok(!rendered.includes("\u202E"), rendered);
    }
  });

  it("drops every bidi control and zero-width character from every value, in subject, text and HTML", () => {
    const hide = (s: string) => invisible.join("") + s.split("").join(invisible.join(""));
    const { subject, text, html } = renderUploadEmail({
      ...context,
      recipientName: hide("Alice Admin"),
      uploaderName: hide("Carol Member"),
      groupName: hide("Design Team"),
      filename: hide("plan.pdf"),
    });
    assert.equal(subject, "[Design Team] Carol Member uploaded plan.pdf");
    for (const body of [text, html]) {
      for (const name of ["Alice Admin", "Carol Member", "Design Team", "plan.pdf"])
        assert.ok(body.includes(name), body);
    }
    for (const rendered of [subject, text, html]) {
      for (const ch of invisible)
        assert.ok(!rendered.includes(ch), `U+${ch.codePointAt(0)?.toString(16)} in ${rendered}`);
    }
  });

  it("treats NEL, the Unicode line and paragraph separators and C1 controls as line breaks", () => {
    assert.equal(oneLine("a\u0085b\u2028c\u2029d\u0080e\u009b2Jf\u009fg"), "a b c d e 2Jf g");
    const { subject } = renderUploadEmail({ ...context, filename: "a.txt\u0085Bcc: victim@example.test\u2028x" });
    assert.equal(subject, "[Design Team] Carol Member uploaded a.txt Bcc: victim@example.test x");
  });

  it("caps a subject with a 5,000-character filename and still says who uploaded what where", () => {
    const filename = `quarterly-report-${"x".repeat(5_000)}.pdf`;
    const { subject, text, html } = renderUploadEmail({ ...context, filename });
    assert.ok(subject.length <= 200, `${subject.length} characters`);
    assert.ok(subject.endsWith("…"), subject);
    assert.ok(subject.startsWith("[Design Team] Carol Member uploaded quarterly-report-xxx"), subject);
    assert.ok(text.includes(filename) && html.includes(filename), "the bodies keep the whole name");
  });

  it("caps long group and uploader names too, and never splits a character in two", () => {
    const { subject } = renderUploadEmail({
      ...context,
      groupName: "G".repeat(3_000),
      uploaderName: "U".repeat(3_000),
      filename: "📄".repeat(3_000),
    });
    assert.ok(subject.length <= 200, `${subject.length} characters`);
    assert.ok(subject.endsWith("…"), subject);
    assert.match(subject, /^\[G+…\] U+… uploaded (📄)+…$/u);
    assert.doesNotMatch(subject, loneSurrogate);
  });

  it("leaves a subject of exactly the limit alone", () => {
    const prefix = "[Design Team] Carol Member uploaded ";
    const filename = `${"f".repeat(200 - prefix.length - 4)}.pdf`;
    assert.equal(renderUploadEmail({ ...context, filename }).subject, prefix + filename);
  });

  it("leaves ordinary names, non-ASCII ones included, as they are", async () => {
    for (const [groupName, uploaderName, filename] of <[string, string, string][]>[
      ["Design Team", "Carol Member", "Zoë's plan.pdf"],
      ["Équipe Design", "José Núñez", "報告書 2024 (final).xlsx"],
      ["Ops", "Анна", "a = b? maybe.txt"],
      ["دیزاین", "Ζωή", "מסמך.docx"],
    ]) {
      const { subject, text, html } = renderUploadEmail({ ...context, groupName, uploaderName, filename });
      assert.equal(subject, `[${groupName}] ${uploaderName} uploaded ${filename}`);
      assert.equal(await subjectAsReceived(subject), subject);
      assert.ok(text.includes(`File: ${filename}`), text);
      assert.ok(html.includes(filename.replaceAll("'", "&#x27;").replaceAll("=", "&#x3D;")), html);
    }
  });
});
