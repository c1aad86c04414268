import assert from "node:assert/strict";
import { it } from "node:test";
import { errorInWords, traceIdOf } from "../../services/web/src/pages/plain-words.ts";

// What the pages say about a mail server's answer: the errors as the SMTP adapter records them
// (nodemailer's code, the reply code, the server's text), in words an admin reads.

it("when no mail server answered, then it says the server is unreachable and that sending resumes by itself", () => {
  for (const error of [
    "ECONNECTION connect ECONNREFUSED 127.0.0.1:2525",
    "ETIMEDOUT Connection timeout",
    "EDNS getaddrinfo ENOTFOUND mail.example.test",
    "ESOCKET read ECONNRESET",
  ]) {
    assert.equal(errorInWords(error), "the mail server is unreachable; sending resumes when it answers", error);
  }
});

it("when the server answered 4xx, then it says the server asked to try later", () => {
  assert.equal(errorInWords("EENVELOPE 421 Too many connections, try later"), "the mail server asked to try later");
  assert.equal(errorInWords("EMESSAGE 451 Temporary local problem"), "the mail server asked to try later");
});

it("when the server answered 5xx, then it says the server refused it, and why when the address is the reason", () => {
  assert.equal(errorInWords("EMESSAGE 554 Transaction failed"), "the mail server refused it");
  assert.equal(
    errorInWords("EENVELOPE 550 Can't send mail - all recipients were rejected: 550 No such user here"),
    "the mail server refused it: it does not accept mail for this address",
  );
});

it("when the server refused Herald's credentials or TLS, then it says so, not that the message was refused", () => {
  assert.equal(
    errorInWords("EAUTH 535 Authentication credentials invalid"),
    "the mail server refused Herald's credentials; sending resumes when they are fixed",
  );
  assert.match(errorInWords("ETLS 454 TLS not available")!, /^no secure connection to the mail server/);
});

it("when Herald gave up (a dead letter), then it says after how many attempts, and the last answer in words", () => {
  assert.equal(
    errorInWords("the queue gave up on it, 5 send attempts; last error: EENVELOPE 421 try later"),
    "Herald stopped trying after 5 attempts; the last answer: the mail server asked to try later",
  );
  assert.equal(errorInWords("the queue gave up on it, 1 send attempt"), "Herald stopped trying after 1 attempt");
});

it("when there is no error, or one it does not know, then it shows nothing, or the error as it is", () => {
  assert.equal(errorInWords(null), null);
  assert.equal(errorInWords(""), null);
  assert.equal(errorInWords("something odd"), "something odd");
});

it("when a traceparent is well formed, then its trace id is shown; otherwise none", () => {
  assert.equal(
    traceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    "4bf92f3577b34da6a3ce929d0e0e4736",
  );
  assert.equal(traceIdOf("garbage"), null);
  assert.equal(traceIdOf(undefined), null);
});
