import { createMemoryNotificationTable } from "@herald/core/adapters";
import { notificationTableContract } from "./notification-table.contract.ts";

notificationTableContract({
  name: "memory (embedded)",
  open: async () => createMemoryNotificationTable(),
});
