export { createNotifier, type Notifier, type NotifierDeps } from "./notifier.ts";
export { renderUploadEmail, formatSize, oneLine, type UploadEmailContext } from "./templates.ts";
