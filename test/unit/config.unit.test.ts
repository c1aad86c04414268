import assert from "node:assert/strict";
import { it } from "node:test";
import { ConfigError, loadConfig } from "@herald/core";

it("uses the documented defaults when nothing is set", () => {
  const config = loadConfig({});
  assert.equal(config.PORT, 8080);
  assert.equal(config.HERALD_DATA_DIR, "./data");
  assert.equal(config.HERALD_MAX_UPLOAD_BYTES, 100 * 1024 * 1024);
  assert.equal(config.HERALD_PUBLIC_URL, "http://localhost:8080");
  assert.equal(config.SMTP_URL, undefined);
});

it("names every variable with a bad value", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty", HERALD_MAX_UPLOAD_BYTES: "-5", SMTP_URL: "http://mail" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /PORT/);
      assert.match(error.message, /HERALD_MAX_UPLOAD_BYTES/);
      assert.match(error.message, /SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/);
      assert.equal(error.problems.length, 3);
      return true;
    },
  );
});

it("treats an empty variable as unset", () => {
  assert.equal(loadConfig({ SMTP_URL: "", PORT: "" }).PORT, 8080);
});

it("sends SMTP credentials in clear only when HERALD_SMTP_ALLOW_PLAINTEXT_AUTH=true", () => {
  assert.equal(loadConfig({}).HERALD_SMTP_ALLOW_PLAINTEXT_AUTH, false);
  assert.equal(loadConfig({ HERALD_SMTP_ALLOW_PLAINTEXT_AUTH: "true" }).HERALD_SMTP_ALLOW_PLAINTEXT_AUTH, true);
  assert.equal(loadConfig({ HERALD_SMTP_ALLOW_PLAINTEXT_AUTH: "false" }).HERALD_SMTP_ALLOW_PLAINTEXT_AUTH, false);
  assert.throws(
    () => loadConfig({ HERALD_SMTP_ALLOW_PLAINTEXT_AUTH: "yes" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, ["HERALD_SMTP_ALLOW_PLAINTEXT_AUTH: must be true or false"]);
      return true;
    },
  );
});
