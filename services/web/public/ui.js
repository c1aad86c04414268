// Plain DOM, textContent only: nothing from the server is ever parsed as HTML.
const $ = (id) => document.getElementById(id);
const token = $("token");
const group = $("group");
token.value = sessionStorage.getItem("herald.token") ?? "";
const linked = location.pathname.match(/^\/groups\/([^/]+)\/uploads\/([^/]+)$/);
if (linked) group.value = decodeURIComponent(linked[1]);

async function api(path, init = {}) {
  sessionStorage.setItem("herald.token", token.value);
  const res = await fetch(path, { ...init, headers: { authorization: `Bearer ${token.value}`, ...init.headers } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail ?? `${res.status}`);
  return body;
}

function row(cells, onClick) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c ?? "";
    tr.append(td);
  }
  if (onClick) {
    tr.style.cursor = "pointer";
    tr.addEventListener("click", onClick);
  }
  return tr;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function showHistory(id) {
  const { items } = await api(`/api/notifications/${encodeURIComponent(id)}/history`);
  $("history").replaceChildren(
    ...items.map((e) => {
      const li = document.createElement("li");
      li.textContent = `${e.occurredAt} ${e.type} ${JSON.stringify(e.data)}`;
      return li;
    }),
  );
}

async function load() {
  try {
    const g = encodeURIComponent(group.value);
    const uploads = await api(`/api/groups/${g}/uploads`);
    $("uploads").tBodies[0].replaceChildren(
      ...uploads.items.map((u) => {
        const tr = row([u.uploadedAt, u.filename, String(u.size), u.uploaderId]);
        if (linked && u.uploadId === linked[2]) tr.style.background = "#ffd";
        return tr;
      }),
    );
    const notifications = await api(`/api/groups/${g}/notifications`).catch(() => ({ items: [] }));
    $("notifications").tBodies[0].replaceChildren(
      ...notifications.items.map((n) =>
        row([n.recipient, n.status, String(n.attempts), n.requestedAt, n.completedAt, n.lastError], () =>
          showHistory(n.notificationId),
        ),
      ),
    );
    say("");
  } catch (error) {
    say(error.message, true);
  }
}

$("load").addEventListener("click", load);
$("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const body = new FormData(event.target);
    const accepted = await api(`/api/groups/${encodeURIComponent(group.value)}/uploads`, { method: "POST", body });
    say(`Uploaded ${accepted.filename}; ${accepted.notifications.length} admin(s) will be emailed.`);
    await load();
  } catch (error) {
    say(error.message, true);
  }
});
if (token.value) load();
