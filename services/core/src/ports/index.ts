// The outside world as the domain sees it: small interfaces, each with one adapter per backend
// (src/adapters/<port>/), and one contract suite per port that every adapter passes
// (test/contract/<port>.contract.ts).

export * from "./event-log.ts";
export * from "./blob-store.ts";
export * from "./work-queue.ts";
export * from "./notification-table.ts";
export * from "./mailer.ts";
export * from "./directory.ts";
export * from "./lease.ts";
