// A thin client for Herald's HTTP API as a user would call it.

export const tokens = {
  alice: "dev-alice-token",
  bob: "dev-bob-token",
  carol: "dev-carol-token",
  dave: "dev-dave-token",
};

export function client(baseUrl: string) {
  const call = async (path: string, token: string | undefined, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", `Bearer ${token}`);
    const res = await fetch(`${baseUrl}${path}`, { ...init, headers });
    const text = await res.text();
    const body = text && /json/.test(res.headers.get("content-type") ?? "") ? JSON.parse(text) : text;
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", headers: res.headers, body };
  };
  return {
    get: (path: string, token?: string) => call(path, token),
    upload(
      groupId: string,
      token: string | undefined,
      file: { name: string; content: string | Uint8Array<ArrayBuffer>; type?: string },
    ) {
      const form = new FormData();
      form.append("file", new Blob([file.content], { type: file.type ?? "text/plain" }), file.name);
      return call(`/api/groups/${groupId}/uploads`, token, { method: "POST", body: form });
    },
    post: (path: string, token: string | undefined, body: BodyInit, headers: Record<string, string> = {}) =>
      call(path, token, { method: "POST", body, headers }),
  };
}

/** Polls GET /api/notifications/{id} (as alice, an admin of the demo group) until it has `status`. */
export async function notificationWhen(api: ReturnType<typeof client>, id: string, status: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api.get(`/api/notifications/${id}`, tokens.alice);
    if (body.status === status) return body;
    if (Date.now() > deadline)
      throw new Error(`notification ${id} is ${body.status}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
