export { startWeb, type RunningWeb, type WebOptions } from "./start-web.ts";
