import assert from "node:assert/strict";
import { it } from "node:test";
import { sanitizeFilename } from "../../services/web/src/receive-upload.ts";

it("keeps only the last path segment of a client's filename", () => {
  assert.equal(sanitizeFilename("../../etc/passwd"), "passwd");
  assert.equal(sanitizeFilename("C:\\Users\\x\\report.docx"), "report.docx");
});

it("drops control characters and refuses names that are only dots or empty", () => {
  assert.equal(sanitizeFilename("a\r\nb\u0000c.txt"), "abc.txt");
  assert.equal(sanitizeFilename(".."), "unnamed");
  assert.equal(sanitizeFilename(""), "unnamed");
  assert.equal(sanitizeFilename(undefined), "unnamed");
});

it("keeps unicode, normalised, and cuts at 255 characters without splitting one", () => {
  assert.equal(sanitizeFilename("re\u0301sume\u0301 📄.pdf"), "résumé 📄.pdf");
  const long = sanitizeFilename("😀".repeat(1000));
  assert.equal(Array.from(long).length, 255);
  assert.equal(long, "😀".repeat(255));
});

it("drops bidi overrides and zero-width characters, so the name shows as it will be read", () => {
  assert.equal(sanitizeFilename("invoice\u202etxt.exe"), "invoicetxt.exe");
  assert.equal(sanitizeFilename("pay\u200bpal\u2066.pdf\u2069"), "paypal.pdf");
  assert.equal(sanitizeFilename("\u202e\u200f"), "unnamed");
  // Right-to-left scripts need none of them: Hebrew and Arabic names are kept as typed.
  assert.equal(sanitizeFilename("דוח שנתי.pdf"), "דוח שנתי.pdf");
});
