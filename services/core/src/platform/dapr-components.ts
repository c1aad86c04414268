// The names of the Dapr components, topics and bindings Herald uses. They are declared in
// components/local and components/azure; a unit test checks that the YAML and these agree.

export const daprComponents = {
  pubsub: "notification-pubsub",
  topic: "notifications",
  deadLetterTopic: "notifications-dead",
  stateStore: "notification-state",
  /** Input binding on the notifier's side; its route is its name. */
  queueIn: "notification-queue",
  /** Output binding on the web's side, on the same queue. */
  queueOut: "notification-queue-out",
  /** The Storage Queue behind the bindings (read directly, for the queue gauges). */
  queueName: "herald-notifications",
  /** The pub/sub component's pinned consumerID: the notifiers' Redis consumer group. */
  consumerGroup: "herald-notifier",
  /** Output binding for messages the notifier gives up on. */
  poison: "notification-poison",
  /** Cron input binding on the notifier's side (both sets): the digests' clock; its route is its name. */
  digestSchedule: "digest-schedule",
} as const;
