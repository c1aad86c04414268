// The few parts of oidc-provider (v9, which ships no types) that test/support/oidc-provider.ts uses.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  type AnyObject = Record<string, unknown>;

  export class Provider {
    constructor(issuer: string, configuration: AnyObject);
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    Client: { prototype: { redirectUriAllowed(uri: string): boolean } };
    Grant: {
      new (properties: { accountId: string; clientId: string }): {
        addOIDCScope(scope: string): void;
        addResourceScope(resource: string, scope: string): void;
        save(): Promise<string>;
      };
      find(id: string): Promise<unknown>;
    };
  }
  export const errors: { InvalidTarget: new (description?: string) => Error };
  export default Provider;
}
