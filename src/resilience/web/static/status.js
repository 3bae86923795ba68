// The resilience status page: live over Server-Sent Events (api/events), falling back
// to polling api/status. Data is only ever inserted as text, never as HTML.
"use strict";

(() => {
  const STATE_LEVEL = {
    CLOSED: "ok",
    OPEN: "error",
    FORCED_OPEN: "error",
    HALF_OPEN: "warning",
    DISABLED: "info",
    METRICS_ONLY: "info",
  };
  const STATE_RANK = { OPEN: 0, FORCED_OPEN: 1, HALF_OPEN: 2, METRICS_ONLY: 3, DISABLED: 4, CLOSED: 5 };
  const HEALTH_LEVEL = {
    OK: "ok", WARNING: "warning", ERROR: "error", UNKNOWN: "warning",
    HEALTHY: "ok", DEGRADED: "warning", CRITICAL: "error",
  };
  const SEVERITY_LEVEL = { P0: "error", P1: "error", P2: "warning", P3: "info" };
  const INCIDENT_LEVEL = { open: "error", acknowledged: "warning", resolved: "ok" };
  const SERVICE_LEVEL = { operational: "ok", degraded: "warning", down: "error" };
  const SERVICE_TEXT = { operational: "Operational", degraded: "Degraded", down: "Down" };
  const SSE_ATTEMPTS = 3; // failed connections in a row before polling instead
  const SSE_RETRY_MS = 30000; // while polling, how often to try the stream again

  const byId = (id) => document.getElementById(id);
  let countdowns = []; // [cell, deadline in ms since the epoch]
  let pollEvery = 2000;
  let pollTimer = null;
  let source = null;
  let failedOpens = 0;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "data") for (const [k, v] of Object.entries(value)) node.dataset[k] = v;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function badge(text, level, data) {
    return el("span", { class: `badge level-${level || "info"}`, data }, text);
  }

  function seconds(value) {
    if (value < 60) return `${Math.ceil(value)} s`;
    const minutes = Math.floor(value / 60);
    if (minutes < 60) return `${minutes} min ${Math.ceil(value % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function clockTime(epoch) {
    return new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)} %`;
  }

  function setConnection(state, text) {
    const node = byId("connection");
    node.dataset.connection = state;
    node.textContent = text;
  }

  // ------------------------------------------------------------------ rendering

  function renderBreakers(breakers, received) {
    const section = byId("breakers-section");
    section.hidden = breakers === null;
    if (breakers === null) return;
    const rows = [...breakers].sort(
      (a, b) => (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9) || a.remote.localeCompare(b.remote),
    );
    countdowns = [];
    const body = byId("breakers").tBodies[0];
    body.replaceChildren(
      ...rows.map((b) => {
        // An OPEN circuit without a retry_after has no trial scheduled (open_for = inf).
        const retry = el("td", { class: "num" }, b.state === "OPEN" && b.retry_after === null ? "none scheduled" : "—");
        const waits = b.state === "OPEN" || b.state === "HALF_OPEN";
        if (waits && b.retry_after !== null && b.retry_after !== undefined) {
          countdowns.push([retry, received + b.retry_after * 1000]);
        }
        const rate = b.calls ? `${percent(b.failure_rate)} (${b.failures}/${b.calls})` : "—";
        return el(
          "tr",
          {},
          el("td", { class: "name" }, b.remote),
          el("td", {}, badge(b.state, STATE_LEVEL[b.state], { remote: b.remote, state: b.state })),
          el("td", { class: "num" }, rate),
          el("td", { class: "num" }, b.consecutive_failures),
          el("td", { class: "num" }, b.rejected),
          retry,
          el("td", { class: "reason" }, b.reason || ""),
        );
      }),
    );
    tick();
    byId("breakers-empty").hidden = rows.length > 0;
    const bad = rows.filter((b) => b.state !== "CLOSED");
    byId("breakers-summary").textContent = rows.length === 0
      ? ""
      : bad.length === 0
        ? `All ${rows.length} circuits closed.`
        : `${bad.length} of ${rows.length} circuits not closed: ` +
          bad.map((b) => `${b.remote} (${b.state})`).join(", ") + ".";
  }

  function renderStrategies(strategies) {
    const section = byId("strategies-section");
    section.hidden = strategies === null || strategies === undefined;
    if (section.hidden) return;
    const rows = [...strategies].sort(
      (a, b) => Number(a.healthy) - Number(b.healthy) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
    );
    byId("strategies").tBodies[0].replaceChildren(
      ...rows.map((s) =>
        el(
          "tr",
          {},
          el("td", {}, s.kind),
          el("td", { class: "name" }, s.name),
          el("td", {}, badge(s.healthy ? "yes" : "no", s.healthy ? "ok" : "warning", {
            kind: s.kind, name: s.name, healthy: String(s.healthy),
          })),
          el("td", { class: "message" }, s.state || ""),
        ),
      ),
    );
    byId("strategies-empty").hidden = rows.length > 0;
    const bad = rows.filter((s) => !s.healthy);
    byId("strategies-summary").textContent = rows.length === 0
      ? ""
      : bad.length === 0
        ? `All ${rows.length} admitting calls.`
        : `${bad.length} of ${rows.length} turning calls away: ` +
          bad.map((s) => `${s.kind} ${s.name}`).join(", ") + ".";
  }

  function renderHealth(health, generatedAt) {
    const section = byId("health-section");
    section.hidden = health === null;
    if (health === null) return;
    const overall = byId("health-status");
    overall.className = `badge level-${HEALTH_LEVEL[health.status] || "info"}`;
    overall.textContent = health.status || "";
    byId("health").tBodies[0].replaceChildren(
      ...health.components.map((c) =>
        el(
          "tr",
          {},
          el("td", { class: "name" }, c.name),
          el("td", {}, badge(c.status, HEALTH_LEVEL[c.status], { component: c.name, status: c.status })),
          el("td", {}, c.critical ? "yes" : "no"),
          el("td", { class: "message" }, c.message || ""),
          el("td", { class: "num" }, `${seconds(Math.max(0, generatedAt - c.last_checked))} ago`),
        ),
      ),
    );
    byId("health-empty").hidden = health.components.length > 0;
  }

  function renderBatches(batches) {
    byId("batches-section").hidden = batches.length === 0;
    byId("batches").replaceChildren(
      ...batches.map((b) => {
        const state = !b.started ? "not started" : b.running ? "running" : "finished";
        const bar = el("progress", {
          "aria-label": `${b.job}: ${b.processed} of ${b.total ?? "?"} items`,
          data: { job: b.job },
        });
        if (b.total !== null) {
          bar.max = Math.max(1, b.total);
          bar.value = b.processed;
        } else if (!b.running) {
          bar.max = 1;
          bar.value = b.started ? 1 : 0;
        } // else: indeterminate while running without a known total
        const total = b.total === null ? "" : ` of ${b.total}`;
        return el(
          "li",
          {},
          el("span", { class: "job" }, b.job),
          badge(state, b.running ? "info" : b.failed ? "warning" : b.started ? "ok" : "info"),
          bar,
          el(
            "div",
            { class: "counts" },
            `${b.processed}${total} processed: ${b.succeeded} succeeded, ${b.failed} failed, ` +
              `${b.deferred} deferred, ${b.skipped} skipped` +
              (b.resumed ? `; ${b.resumed} done before this run` : ""),
          ),
        );
      }),
    );
  }

  function renderEvents(events) {
    const items = [...events].reverse().map((e) =>
      el(
        "li",
        {},
        el("time", { datetime: new Date(e.time * 1000).toISOString() }, clockTime(e.time)),
        badge(e.kind, e.level),
        el("span", {}, e.text),
      ),
    );
    byId("events").replaceChildren(...items);
    byId("events-empty").hidden = items.length > 0;
  }

  function renderIncidents(incidents, generatedAt) {
    const section = byId("incidents-section");
    section.hidden = incidents === null || incidents === undefined;
    if (section.hidden) return;
    byId("incidents").tBodies[0].replaceChildren(
      ...incidents.map((i) =>
        el(
          "tr",
          { data: { incident: i.id } },
          el("td", {}, badge(i.severity, SEVERITY_LEVEL[i.severity], { severity: i.severity })),
          el("td", { class: "name" }, i.component, i.flapping ? " (flapping)" : ""),
          el(
            "td",
            {},
            badge(i.state, INCIDENT_LEVEL[i.state], { state: i.state }),
            i.acknowledged_by ? ` by ${i.acknowledged_by}` : "",
          ),
          el("td", { class: "reason" }, i.reason),
          el("td", { class: "message" }, i.last_update || ""),
          el("td", { class: "num" }, `${seconds(Math.max(0, generatedAt - i.updated_at))} ago`),
        ),
      ),
    );
    byId("incidents-empty").hidden = incidents.length > 0;
  }

  function renderPublic(status) {
    for (const id of ["breakers-section", "health-section", "incidents-section", "batches-section", "events-section"]) {
      byId(id).hidden = true;
    }
    byId("public-section").hidden = false;
    const overall = byId("public-status");
    overall.className = `badge level-${SERVICE_LEVEL[status.status] || "info"}`;
    overall.dataset.status = status.status;
    overall.textContent = SERVICE_TEXT[status.status] || status.status;
    const down = status.services.filter((s) => s.status !== "operational");
    byId("public-summary").textContent = status.services.length === 0
      ? "No service is monitored yet."
      : down.length === 0
        ? "All services are operational."
        : `${down.length} of ${status.services.length} services affected.`;
    byId("services").replaceChildren(
      ...status.services.map((s) =>
        el(
          "li",
          {},
          el("span", { class: "name" }, s.name),
          badge(SERVICE_TEXT[s.status] || s.status, SERVICE_LEVEL[s.status], { service: s.name, status: s.status }),
        ),
      ),
    );
  }

  function render(status) {
    const received = Date.now();
    pollEvery = Math.max(1000, (status.poll_interval || 2) * 1000);
    const generated = byId("generated");
    generated.textContent = clockTime(status.generated_at);
    generated.dateTime = new Date(status.generated_at * 1000).toISOString();
    if (status.public) {
      renderPublic(status);
      return;
    }
    renderIncidents(status.incidents, status.generated_at);
    renderBreakers(status.breakers, received);
    renderStrategies(status.strategies);
    renderHealth(status.health, status.generated_at);
    renderBatches(status.batches);
    renderEvents(status.events);
  }

  function tick() {
    const now = Date.now();
    for (const [cell, deadline] of countdowns) {
      const left = (deadline - now) / 1000;
      cell.textContent = left > 0 ? seconds(left) : "now";
    }
  }

  // ----------------------------------------------------------------- transport

  async function poll() {
    try {
      const response = await fetch("api/status", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
      setConnection("polling", "Polling");
    } catch (error) {
      setConnection("offline", `Offline (${error.message}); retrying`);
    }
    if (pollTimer !== null) pollTimer = setTimeout(poll, pollEvery);
  }

  function startPolling() {
    if (pollTimer !== null) return;
    pollTimer = setTimeout(poll, 0);
    if ("EventSource" in window) setTimeout(connect, SSE_RETRY_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (!("EventSource" in window)) {
      startPolling();
      return;
    }
    if (source !== null) return;
    source = new EventSource("api/events");
    let opened = false;
    source.onopen = () => {
      opened = true;
      failedOpens = 0;
      stopPolling();
      setConnection("live", "Live");
    };
    source.onmessage = (message) => render(JSON.parse(message.data));
    source.onerror = () => {
      if (!opened) failedOpens += 1;
      opened = false;
      if (failedOpens >= SSE_ATTEMPTS || source.readyState === EventSource.CLOSED) {
        source.close();
        source = null;
        failedOpens = 0;
        startPolling();
      } else {
        setConnection("reconnecting", "Reconnecting…");
      }
    };
  }

  setInterval(tick, 250);
  connect();
})();
