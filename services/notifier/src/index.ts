export { startNotifier, type NotifierOptions } from "./start-notifier.ts";
export { createNotifier, type Notifier, type NotifierDeps } from "./deliver-notification.ts";
export {
  renderUploadEmail,
  renderDigestEmail,
  formatSize,
  oneLine,
  type UploadEmailContext,
  type DigestEmailContext,
} from "./templates.ts";
