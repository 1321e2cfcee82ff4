// herald's one script: live updates for pages that already work without
// it. It opens the realtime WebSocket with the session cookie, keeps the
// unread badge current, and updates whatever the page marks with data-*
// attributes. Nothing here is needed to read or change anything.
"use strict";
(() => {
  const body = document.body;
  if (!body || !body.dataset.user) return; // signed-out pages
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const staff = body.dataset.staff === "true";
  const labels = { up: "Up", degraded: "Degraded", down: "Down", unknown: "Unknown", paused: "Paused", maintenance: "Maintenance" };
  const herald = (window.herald = {
    csrf,
    // The JSON API with the session cookie: changes carry the CSRF token.
    api: (method, path, payload) =>
      fetch(path, {
        method,
        credentials: "same-origin",
        headers: Object.assign({ "X-Csrf-Token": csrf }, payload === undefined ? {} : { "Content-Type": "application/json" }),
        body: payload === undefined ? undefined : JSON.stringify(payload),
      }),
  });

  // Unread badge: the count the page was rendered with, then live.
  const badge = document.getElementById("unread-badge");
  const setBadge = (n) => {
    if (!badge) return;
    n = Math.max(0, n);
    badge.dataset.count = String(n);
    badge.textContent = String(n);
    badge.setAttribute("aria-label", `${n} unread`);
    badge.hidden = n === 0;
  };
  const refreshBadge = () => {
    herald.api("GET", "/api/v1/notifications/stats").then((r) => r.ok ? r.json() : null).then((stats) => {
      if (stats && typeof stats.unread === "number") setBadge(stats.unread);
    }).catch(() => {});
  };

  // Overview rows and counts.
  let countsTimer = 0;
  const refreshCounts = () => {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(() => {
      herald.api("GET", "/api/v1/services/counts").then((r) => r.ok ? r.json() : null).then((c) => {
        if (!c) return;
        for (const [k, v] of Object.entries(c)) {
          const el = document.getElementById(`count-${k}`);
          if (el) el.textContent = String(v);
        }
      }).catch(() => {});
    }, 200);
  };
  const onService = (service) => {
    for (const row of document.querySelectorAll(`[data-service="${service.id}"]`)) {
      const cell = row.querySelector('[data-field="status"]');
      if (cell && row.dataset.status !== service.status) {
        row.dataset.status = service.status;
        cell.className = `status status-${service.status}`;
        cell.textContent = labels[service.status] || service.status;
        row.classList.remove("changed");
        void row.offsetWidth;
        row.classList.add("changed");
      }
      const checked = row.querySelector('[data-field="checked"]');
      if (checked && service.last_checked_at) {
        checked.setAttribute("datetime", service.last_checked_at);
        checked.textContent = "just now";
      }
    }
    refreshCounts();
  };

  // Parts of a page marked data-refresh-on="<channel>" are fetched again
  // (the same URL, rendered by the server) when their channel speaks.
  const timers = new Map();
  const refresh = (channel) => {
    if (!document.querySelector(`[data-refresh-on="${channel}"]`)) return;
    clearTimeout(timers.get(channel));
    timers.set(channel, setTimeout(() => {
      fetch(location.href, { credentials: "same-origin" }).then((r) => r.ok ? r.text() : null).then((html) => {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        for (const el of document.querySelectorAll(`[data-refresh-on="${channel}"]`)) {
          const next = el.id && fresh.getElementById(el.id);
          if (next) el.replaceChildren(...next.childNodes);
        }
      }).catch(() => {});
    }, 150));
  };

  // The service form shows the settings of the chosen kind only (without
  // the script every kind's are there, and the server uses the chosen one's).
  const kindSelect = document.querySelector("[data-kind-select]");
  const kindField = kindSelect || document.querySelector('input[name="kind"]');
  if (kindField) {
    const show = () => {
      for (const fs of document.querySelectorAll("fieldset[data-kind]")) {
        fs.hidden = !fs.dataset.kind.split(" ").includes(kindField.value);
      }
    };
    kindSelect?.addEventListener("change", show);
    show();
  }

  // Forms marked data-api="METHOD /api/…" are sent to the JSON API with
  // the session's token instead of posting the page (the page's own
  // route does the same without the script); the page then refreshes
  // the parts that changed.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const spec = form instanceof HTMLFormElement ? form.dataset.api : undefined;
    if (!spec) return;
    event.preventDefault();
    const [method, path] = spec.split(" ");
    const body = form.dataset.apiBody ? JSON.parse(form.dataset.apiBody) : undefined;
    herald.api(method, path, body).then((r) => {
      if (!r.ok) { form.submit(); return; }
      refreshBadge();
      for (const region of document.querySelectorAll("[data-refresh-on]")) refresh(region.dataset.refreshOn);
    }).catch(() => form.submit());
  });

  let last = 0; // highest notification cursor seen
  let retry = 500;
  const connect = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`);
    ws.onopen = () => {
      retry = 500;
      ws.send(JSON.stringify(last ? { type: "notifications:subscribe", after: last } : { type: "notifications:subscribe" }));
      if (staff) {
        ws.send(JSON.stringify({ type: "channels:subscribe", channel: "services" }));
        ws.send(JSON.stringify({ type: "channels:subscribe", channel: "incidents" }));
      }
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      const seen = (n) => { if (n.cursor > last) last = n.cursor; };
      switch (msg.type) {
        case "notifications:subscribed":
          (msg.pending || []).forEach(seen);
          refreshBadge();
          break;
        case "notification:new":
          seen(msg.notification);
          if (!msg.notification.read_at) setBadge(Number(badge?.dataset.count || 0) + 1);
          refresh("inbox");
          break;
        case "notification:updated":
        case "notification:deleted":
          refreshBadge();
          refresh("inbox");
          break;
        case "service:status":
          onService(msg.service);
          break;
        default:
          if (typeof msg.type === "string" && msg.type.startsWith("incident:")) refresh("incidents");
      }
    };
    ws.onclose = () => {
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  };
  connect();
})();
