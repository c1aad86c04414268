// @herald/core/adapters: one folder per port, one file per backend, and the wiring that
// picks them from config. The only modules that load a backend's SDK.
export * from "./event-log/sqlite.ts";
export * from "./event-log/eventstore.ts";
export * from "./event-log/instrumented.ts";
export * from "./blob-store/folder.ts";
export * from "./blob-store/azure.ts";
export * from "./work-queue/memory.ts";
export * from "./work-queue/dapr.ts";
export * from "./notification-table/memory.ts";
export * from "./notification-table/dapr-state.ts";
export * from "./lease/memory.ts";
export * from "./lease/dapr-state.ts";
export * from "./mailer/smtp.ts";
export * from "./mailer/outbox.ts";
export * from "./queue-inspector/redis-stream.ts";
export * from "./queue-inspector/azure-queue.ts";
export * from "./poison-queue/dapr-binding.ts";
export * from "./directory/seed-directory.ts";
export * from "./dapr-client.ts";
export * from "./wiring.ts";
