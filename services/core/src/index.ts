// @herald/core: the domain, the ports, the application services that use them, and the
// platform every process stands on. Loads no SDK of any backend: those are behind
// @herald/core/adapters.
export * from "./domain/index.ts";
export * from "./ports/index.ts";
export * from "./application/notification-commands.ts";
export * from "./application/relay.ts";
export * from "./application/stall-watch.ts";
export * from "./application/read-models.ts";
export * from "./application/digest-window.ts";
export * from "./application/digests.ts";
export * from "./application/follow-log.ts";
export * from "./application/unsubscribe-token.ts";
export * from "./platform/config.ts";
export * from "./platform/logger.ts";
export * from "./platform/metrics.ts";
export * from "./platform/dependency-health.ts";
export * from "./platform/lifecycle.ts";
export * from "./platform/trace.ts";
export * from "./platform/backoff.ts";
export * from "./platform/dapr-components.ts";
export * from "./application/while-leader.ts";
