import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DigestEmailContext, renderDigestEmail } from "@herald/notifier";

// The digest email from its Handlebars templates: what it lists, and what hostile names and
// filenames cannot do to it.

const context = (over: Partial<DigestEmailContext> = {}): DigestEmailContext => ({
  recipientName: "Alice Admin",
  groupName: "Design Team",
  windowStart: "2026-11-22 08:00 GMT+1",
  windowEnd: "2026-11-23 08:00 GMT+1",
  timeZone: "Europe/Berlin",
  uploads: [
    {
      filename: "brief.txt",
      sizeBytes: 2048,
      uploaderName: "Carol Member",
      time: "2026-11-22 09:15 GMT+1",
      link: "https://herald.example.test/groups/design/uploads/u1",
    },
  ],
  ...over,
});

describe("the digest email", () => {
  it("when one upload is listed, then the subject counts it and both parts show file, size, uploader, time and link", () => {
    const email = renderDigestEmail(context());
    assert.equal(email.subject, "[Design Team] Daily digest: 1 upload");
    assert.match(
      email.text,
      /1 file was uploaded to Design Team between 2026-11-22 08:00 GMT\+1 and 2026-11-23 08:00 GMT\+1:/,
    );
    assert.match(
      email.text,
      /  brief\.txt\n    Size: 2\.0 KiB \(2048 bytes\)\n    Uploaded by Carol Member at 2026-11-22 09:15 GMT\+1\n    https:\/\/herald\.example\.test\/groups\/design\/uploads\/u1\n/,
    );
    assert.match(email.html, /<a href="https:\/\/herald\.example\.test\/groups\/design\/uploads\/u1">brief\.txt<\/a>/);
    assert.match(email.html, /<td>Carol Member<\/td><td>2026-11-22 09:15 GMT\+1<\/td>/);
  });

  it("when several are listed, then the subject says how many", () => {
    const uploads = [...context().uploads, { ...context().uploads[0]!, filename: "logo.svg" }];
    assert.equal(renderDigestEmail(context({ uploads })).subject, "[Design Team] Daily digest: 2 uploads");
  });

  it("when names and filenames are hostile, then the subject stays one line without encoded words, the HTML escapes, and no filename makes up an entry", () => {
    const email = renderDigestEmail(
      context({
        groupName: "=?UTF-8?B?SGk=?=\r\nBcc: x@evil.test \u202Egnp.exe",
        uploads: [
          {
            ...context().uploads[0]!,
            filename: "<script>alert(1)</script>\n  fake.txt\n    Size: 1 byte",
            uploaderName: "Mallory\u200B",
          },
        ],
      }),
    );
    assert.doesNotMatch(email.subject, /[\r\n]|=\?/);
    assert.match(email.subject, /Daily digest: 1 upload$/);
    assert.match(email.html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.doesNotMatch(email.html, /<script>/);
    assert.equal((email.text.match(/^ {4}Size:/gm) ?? []).length, 1, "one entry");
    assert.doesNotMatch(email.text, /\u202E|\u200B/);
  });
});
