// The domain: events, deciders and the queue message. Pure: it imports nothing from outside.
export * from "./events.ts";
export * from "./errors.ts";
export * from "./notification.ts";
export * from "./upload.ts";
export * from "./queue-message.ts";
export * from "./display-text.ts";
export * from "./preferences.ts";
export * from "./digest.ts";
