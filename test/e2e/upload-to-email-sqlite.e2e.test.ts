import { uploadToEmailSuite } from "./upload-to-email.suite.ts";

uploadToEmailSuite("SQLite event log", async () => ({}));
