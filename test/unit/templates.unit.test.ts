import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSize, renderUploadEmail, type UploadEmailContext } from "@herald/notifier";

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
