// The cookies one client holds, for tests that drive redirects by hand with fetch (which
// keeps none): each response's Set-Cookie is kept per name, and sent back on the next request
// to the same host. Paths, expiry and Secure are not modelled; a cookie set with Max-Age=0 or
// an empty value is dropped.

export class CookieJar {
  readonly cookies = new Map<string, Map<string, string>>();

  /** fetch without following redirects, sending this jar's cookies for the URL's host and keeping the ones set. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const host = new URL(url).host;
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie) headers.set("cookie", cookie);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) this.keep(host, line);
    return response;
  }

  /** The Cookie header this jar sends to `url`'s host. */
  header(url: string): string {
    const forHost = this.cookies.get(new URL(url).host);
    return forHost ? [...forHost].map(([name, value]) => `${name}=${value}`).join("; ") : "";
  }

  get(url: string, name: string): string | undefined {
    return this.cookies.get(new URL(url).host)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    if (!this.cookies.has(host)) this.cookies.set(host, new Map());
    this.cookies.get(host)!.set(name, value);
  }

  private keep(host: string, line: string) {
    const [pair = "", ...attributes] = line.split(";");
    const at = pair.indexOf("=");
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    const removed =
      value === "" || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
    if (!this.cookies.has(host)) this.cookies.set(host, new Map());
    if (removed) this.cookies.get(host)!.delete(name);
    else this.cookies.get(host)!.set(name, value);
  }
}
