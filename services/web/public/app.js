// Herald's pages work as served; this script makes them better where the browser runs it:
// times in the reader's own zone, uploads with a progress bar, live status, redrive in place.
// It calls the JSON API with the session cookie; every unsafe call carries the session's CSRF
// token (X-CSRF-Token, from <meta name="csrf-token">).
//
// Live status is polled (every 2 s while the page is visible), not pushed by server-sent
// events: a poll is a plain request that any web replica answers from its read models, passes
// every proxy and CDN unchanged, holds no connection open per reader, and stops by itself when
// the tab is hidden. Two seconds is well inside how long an email takes.

const POLL_MS = 2000;
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

localiseTimes(document);
for (const form of document.querySelectorAll("form[data-upload]")) enhanceUpload(form);
for (const region of document.querySelectorAll("[data-activity]")) keepActivityCurrent(region);
for (const region of document.querySelectorAll("[data-timeline]")) keepTimelineCurrent(region);
document.querySelector("tr[aria-current]")?.scrollIntoView({ block: "center" });
for (const select of document.querySelectorAll("select[data-guess-zone]")) preselectOwnZone(select);
for (const fields of document.querySelectorAll("[data-digest-fields]")) chooseDigestOnEdit(fields);

// ---- times --------------------------------------------------------------------------------

/** Rewrites every <time datetime> in the reader's zone and language; the exact instant stays in its title. */
function localiseTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const date = new Date(time.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    time.textContent = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    time.title = date.toISOString();
  }
}

function timeElement(iso) {
  const time = element("time", { datetime: iso }, iso);
  localiseTimes({ querySelectorAll: () => [time] });
  return time;
}

// ---- uploads ------------------------------------------------------------------------------

/** Sends the file with XMLHttpRequest (fetch reports no upload progress), the button disabled meanwhile. */
function enhanceUpload(form) {
  const button = form.querySelector("button[type=submit]");
  const progress = form.querySelector("progress");
  const status = form.querySelector("[data-upload-status]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) return say(status, "Choose a file first.", true);
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", csrfToken);
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.round((e.loaded / e.total) * 100);
      progress.value = percent;
      progress.setAttribute("aria-valuetext", `${percent}% uploaded`);
      say(status, `Uploading ${file.name}: ${percent}%`);
    });
    const finish = () => {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    };
    request.addEventListener("load", () => {
      finish();
      if (request.status === 202) {
        progress.value = 100;
        say(status, `Uploaded ${file.name}. The group's admins are being emailed.`);
        form.reset();
        document.dispatchEvent(new Event("herald:changed"));
      } else {
        say(status, `The upload was refused: ${problemText(request.response, request.status)}`, true);
      }
    });
    request.addEventListener("error", () => {
      finish();
      say(status, "The upload did not reach Herald (the connection failed). Try again.", true);
    });
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    progress.hidden = false;
    progress.value = 0;
    say(status, `Uploading ${file.name}…`);
    request.send(body);
  });
}

// ---- the group page: uploads and notifications, kept current --------------------------------

function keepActivityCurrent(region) {
  let shown = null;
  poll(region.dataset.activity, (activity, text) => {
    if (text === shown) return;
    shown = text;
    replaceRows(region.querySelector("[data-uploads]"), activity.uploads.map(uploadRow));
    region.querySelector("[data-uploads-empty]").hidden = activity.uploads.length > 0;
    const notifications = region.querySelector("[data-notifications]");
    if (notifications && activity.notifications) {
      replaceRows(notifications, activity.notifications.map(notificationRow));
      region.querySelector("[data-notifications-empty]").hidden = activity.notifications.length > 0;
    }
  });
}

/** The twin of views/partials/upload-row.hbs. */
function uploadRow(u) {
  return row(u.highlighted, { id: `upload-${u.uploadId}`, "data-upload-id": u.uploadId }, [
    [element("a", { href: u.downloadHref, download: "" }, u.filename)],
    [u.size],
    [u.uploaderName],
    [timeElement(u.uploadedAt)],
    [element("a", { href: u.href }, "Details", hidden(` of ${u.filename}`))],
  ]);
}

/** The twin of views/partials/notification-row.hbs. */
function notificationRow(n) {
  const attributes = {
    id: `notification-${n.notificationId}`,
    "data-notification-id": n.notificationId,
    "data-status": n.status,
  };
  return row(n.highlighted, attributes, [
    [n.filename],
    [n.recipientName, " ", element("span", { class: "hint" }, n.recipient)],
    [statusBadge(n.status, n.statusWords)],
    [String(n.attempts)],
    [timeElement(n.requestedAt)],
    n.error ? [n.error.words, element("br"), element("small", { class: "detail" }, n.error.detail)] : [],
    [element("a", { href: n.href }, "Timeline", hidden(` of the email to ${n.recipientName} about ${n.filename}`))],
  ]);
}

function row(highlighted, attributes, cells) {
  const tr = element("tr", highlighted ? { ...attributes, class: "highlighted", "aria-current": "true" } : attributes);
  for (const content of cells) tr.append(element("td", {}, ...content));
  return tr;
}

/** Replaces the rows, keeping focus on the link that had it (same row id, same link text). */
function replaceRows(tbody, rows) {
  const focused = tbody.contains(document.activeElement) ? document.activeElement : null;
  const focusedRow = focused?.closest("tr")?.id;
  const focusedText = focused?.textContent;
  tbody.replaceChildren(...rows);
  if (focusedRow) {
    const again = [...(document.getElementById(focusedRow)?.querySelectorAll("a") ?? [])].find(
      (a) => a.textContent === focusedText,
    );
    again?.focus();
  }
}

// ---- the timeline page: steps kept current, redrive in place --------------------------------

function keepTimelineCurrent(region) {
  const form = region.querySelector("form[data-redrive]");
  const status = region.querySelector("[data-redrive-status]");
  const isFinal = () => ["sent", "failed", "dead-lettered"].includes(region.dataset.status);
  let shown = null;
  const poller = poll(
    region.dataset.timeline,
    (timeline, text) => {
      if (text === shown) return;
      shown = text;
      const n = timeline.notification;
      region.dataset.status = n.status;
      const badge = region.querySelector("[data-status-badge]");
      badge.className = `status-badge status-${n.status}`;
      badge.textContent = n.status;
      region.querySelector("[data-status-words]").textContent = n.statusWords;
      region.querySelector("[data-attempts]").textContent = String(n.attempts);
      region.querySelector("[data-steps]").replaceChildren(...timeline.steps.map(timelineStep));
      form.hidden = !n.redrivable;
    },
    { while: () => !isFinal() },
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    say(status, "Asking Herald to send it again…");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "X-CSRF-Token": csrfToken, Accept: "application/json" },
      });
      const body = await response.json().catch(() => null);
      if (response.status === 202) {
        say(status, "Redriven: it is queued to be sent again.");
        form.hidden = true;
        region.dataset.status = body?.status ?? "requested";
        poller.now();
      } else {
        say(status, `The redrive was refused: ${problemText(body, response.status)}`, true);
      }
    } catch {
      say(status, "The redrive did not reach Herald (the connection failed). Try again.", true);
    } finally {
      button.disabled = false;
    }
  });
}

/** The twin of views/partials/timeline-step.hbs. */
function timelineStep(step) {
  const li = element(
    "li",
    {},
    element("span", { class: "when" }, timeElement(step.at)),
    " ",
    element("span", { class: "what" }, step.what),
  );
  if (step.error) {
    li.append(
      element(
        "p",
        { class: "problem" },
        step.error.words,
        element("br"),
        element("small", { class: "detail" }, `The server's answer: ${step.error.detail}`),
      ),
    );
  }
  if (step.traceId) li.append(" ", element("small", { class: "hint" }, `trace ${step.traceId}`));
  return li;
}

// ---- the notifications page --------------------------------------------------------------

/** Where no zone is saved the server shows UTC; the browser knows the reader's own zone. */
function preselectOwnZone(select) {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if ([...select.options].some((option) => option.value === own)) select.value = own;
}

/** Setting the digest's time or zone means choosing the digest. */
function chooseDigestOnEdit(fields) {
  const radio = fields.closest(".choice")?.querySelector('input[type="radio"]');
  fields.addEventListener("change", () => {
    if (radio) radio.checked = true;
  });
}

// ---- plumbing -----------------------------------------------------------------------------

/**
 * Calls `url` every POLL_MS while the page is visible (and `options.while()` holds), and at
 * once when the page comes back into view or something changed it (herald:changed).
 */
function poll(url, onData, options = {}) {
  const keepGoing = options.while ?? (() => true);
  let timer = null;
  let running = false;
  const tick = async () => {
    clearTimeout(timer);
    timer = null;
    if (running || document.visibilityState !== "visible") return;
    running = true;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      // Signed out meanwhile (or the session expired): the page's own links lead to sign-in.
      if (response.ok) {
        const text = await response.text();
        onData(JSON.parse(text), text);
      }
    } catch {
      // The network blinked: the next tick tries again.
    } finally {
      running = false;
    }
    if (keepGoing()) timer = setTimeout(tick, POLL_MS);
  };
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && tick());
  document.addEventListener("herald:changed", () => tick());
  timer = setTimeout(tick, POLL_MS);
  return { now: tick };
}

function statusBadge(status, words) {
  return element("span", { class: `status-badge status-${status}`, title: words }, status);
}

const hidden = (text) => element("span", { class: "visually-hidden" }, text);

/** An element with attributes and children (strings become text: never parsed as HTML). */
function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function say(status, text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

/** A problem+json answer in words: its detail, else its title, else the status. */
function problemText(body, status) {
  return body?.detail ?? body?.title ?? `HTTP ${status}`;
}
