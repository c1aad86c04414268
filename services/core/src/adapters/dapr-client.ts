import { CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

// The Dapr adapters (work-queue/dapr.ts, notification-table/dapr-state.ts,
// poison-queue/dapr-binding.ts) reach their sidecar's HTTP API through the JS SDK. The SDK
// reports some failures as a returned `{ error }` instead of throwing: every call checks.

export function createDaprClient(daprHost: string, daprPort: number): DaprClient {
  return new DaprClient({
    daprHost,
    daprPort: String(daprPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // DAPR_API_TOKEN, when set, is read by the SDK itself.
  });
}
