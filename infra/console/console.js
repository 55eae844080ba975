// devstack console: polls the control server's /console/api/* and /faults every 1.5 s and
// draws tables, a saga timeline and inline SVG charts. No dependencies, no build step.
"use strict";

const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.setAttribute("class", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(path, options) {
  const resp = await fetch(path, options);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!resp.ok) throw new Error((body && body.error) || `${resp.status} ${text}`);
  return body;
}

const time = (ms) => {
  if (ms === null || ms === undefined) return "now";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
};
const num = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits).replace(/\.0+$/, ""));

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// --- requests -----------------------------------------------------------------------------
function drawRequests(recent) {
  fill($("requests-body"), recent.requests.map((r) => el("tr", { "data-testid": "request-row", "data-request-id": r.request_id },
    el("td", {}, time(r.time_ms)), el("td", {}, r.method), el("td", {}, r.path), el("td", {}, r.route),
    el("td", { class: "s" + Math.floor(r.status / 100) }, r.status), el("td", {}, r.latency_ms),
    el("td", {}, r.function), el("td", { class: "muted" }, r.request_id))));
}

// --- functions ----------------------------------------------------------------------------
function drawFunctions(list) {
  fill($("functions-body"), list.map((f) => {
    const emf = f.latency_p50_ms !== null;
    const p50 = emf ? f.latency_p50_ms : f.duration_p50_ms;
    const p99 = emf ? f.latency_p99_ms : f.duration_p99_ms;
    const mark = emf || p50 === null ? "" : "*";
    return el("tr", { "data-testid": "function-row", "data-function": f.function },
      el("td", {}, f.function), el("td", {}, `${f.in_flight} / ${f.peak_in_flight}`), el("td", {}, f.invocations),
      el("td", { class: f.errors + f.timeouts > 0 ? "nonzero" : "" }, f.errors + f.timeouts),
      el("td", {}, f.cold_starts), el("td", {}, num(p50) + mark), el("td", {}, num(p99) + mark));
  }));
}

// --- queues -------------------------------------------------------------------------------
let peeked = null; // the DLQ whose messages are shown

function drawQueues(list) {
  fill($("queues-body"), list.map((q) => {
    const actions = el("td", {});
    if (q.dead_letter) {
      actions.append(el("button", { type: "button", "data-testid": "peek", onclick: () => peek(q.id) }, "messages"), " ");
      if (q.redrivable) actions.append(el("button", { type: "button", "data-testid": "redrive", onclick: () => redrive(q.id) }, "redrive"));
    }
    return el("tr", { "data-testid": "queue-row", "data-queue": q.id, class: q.dead_letter ? "dlq" : "" },
      el("td", { title: q.name }, q.id),
      el("td", { "data-testid": "queue-depth", class: q.dead_letter && q.messages > 0 ? "nonzero" : "" }, q.messages ?? "?"),
      el("td", {}, q.in_flight ?? "?"), el("td", {}, q.delayed ?? "?"), actions);
  }));
  const select = $("inject-queue");
  if (select.options.length !== list.length) {
    const chosen = select.value;
    select.replaceChildren(...list.map((q) => el("option", { value: q.id }, q.id)));
    if (chosen) select.value = chosen;
  }
}

async function peek(id) {
  peeked = id;
  const box = $("dlq-messages");
  box.replaceChildren(el("p", { class: "muted" }, `reading ${id}…`));
  try {
    const p = await api(`/console/api/queues/${encodeURIComponent(id)}/messages`);
    box.replaceChildren(el("h3", { "data-testid": "dlq-peeked", "data-queue": p.queue }, `${p.queue}: ${p.messages.length} message(s)`),
      ...p.messages.map((m) => el("div", { "data-testid": "dlq-message", "data-message-id": m.message_id },
        el("div", { class: "muted" }, `${m.message_id} · receives ${m.receive_count ?? "?"} · sent ${m.sent ?? "?"}`),
        el("pre", {}, m.body))));
  } catch (e) {
    box.replaceChildren(el("p", { class: "s5" }, String(e.message)));
  }
}

async function redrive(id) {
  const out = $("queue-result");
  out.textContent = `redriving ${id}…`;
  try {
    const r = await api(`/console/api/queues/${encodeURIComponent(id)}/redrive`, { method: "POST" });
    const to = Object.entries(r.to).map(([q, n]) => `${n} to ${q}`).join(", ");
    out.textContent = `redrive: moved ${r.moved} message(s) from ${r.queue}${to ? " (" + to + ")" : ""}`;
  } catch (e) {
    out.textContent = `redrive failed: ${e.message}`;
  }
  await refreshQueues();
  if (peeked === id) await peek(id);
}

$("inject-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("inject-queue").value;
  const out = $("queue-result");
  try {
    const r = await api(`/console/api/queues/${encodeURIComponent(id)}/inject`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: $("inject-body").value }),
    });
    out.textContent = `injected message ${r.message_id} into ${id}`;
  } catch (e) {
    out.textContent = `inject failed: ${e.message}`;
  }
  await refreshQueues();
});

// --- saga ---------------------------------------------------------------------------------
function sagaQuery() {
  const id = $("saga-input").value.trim();
  if (!id) return null;
  const kind = document.querySelector('input[name="saga-kind"]:checked').value;
  return `${kind}=${encodeURIComponent(id)}`;
}

async function refreshSaga() {
  const q = sagaQuery();
  if (!q) return;
  const t = await api(`/console/api/saga?${q}`);
  if (q !== sagaQuery()) return; // typed meanwhile
  fill($("saga-timeline"), t.hops.map((h) => el("li", { "data-testid": "saga-hop", "data-kind": h.kind, "data-label": h.label, "data-outcome": h.outcome, class: h.kind === "status" ? "status" : h.outcome === "failed" ? "failed" : "" },
    el("span", { class: "label" }, h.label), " ",
    el("span", { class: "badge " + h.outcome }, h.outcome),
    el("span", { class: "meta" }, [time(h.time_ms), h.source, h.duration_ms !== null ? h.duration_ms + " ms" : null, h.id].filter((x) => x !== null && x !== undefined).join(" · ")))));
  $("saga-summary").textContent = t.hops.length
    ? `order ${t.order_id ?? "?"} · correlation ${t.correlation_id ?? "?"} · trace ${(t.trace_roots ?? []).join(", ") || "?"} · status ${t.status ?? "unknown"}`
    : "nothing seen for this id yet (devstack keeps the last 500 requests and 2000 deliveries)";
}

$("saga-form").addEventListener("submit", (ev) => { ev.preventDefault(); refreshSaga().catch(showError); });

// --- charts -------------------------------------------------------------------------------
const COLORS = ["#2b6cb0", "#c0392b", "#1f8a4c", "#c98a00", "#6b46c1", "#0e7490"];

function barChart(svg, items) {
  const w = 420, rowH = 18, left = 150, max = Math.max(1, ...items.map((i) => i.value));
  svg.setAttribute("viewBox", `0 0 ${w} ${Math.max(40, items.length * rowH + 10)}`);
  svg.replaceChildren(...items.flatMap((it, k) => {
    const y = 5 + k * rowH, bw = ((w - left - 40) * it.value) / max;
    return [el("svg:text", { x: left - 4, y: y + 12, "text-anchor": "end" }, it.label),
      el("svg:rect", { x: left, y, width: Math.max(1, bw), height: rowH - 5, fill: COLORS[k % COLORS.length] }),
      el("svg:text", { x: left + bw + 4, y: y + 12 }, it.value)];
  }));
  if (!items.length) svg.replaceChildren(el("svg:text", { x: 10, y: 24 }, "no requests yet"));
}

function lineChart(svg, lines, w, h) {
  const pad = 28;
  const pts = lines.flatMap((l) => l.points);
  svg.replaceChildren();
  if (!pts.length) { svg.append(el("svg:text", { x: 10, y: 24 }, "no data yet")); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y1 = Math.max(...ys, 1);
  const X = (x) => pad + ((w - 2 * pad) * (x - x0)) / (x1 - x0);
  const Y = (y) => h - pad / 1.5 - ((h - pad * 1.3) * y) / y1;
  svg.append(el("svg:line", { x1: pad, y1: Y(0), x2: w - pad, y2: Y(0), stroke: "#ccc" }),
    el("svg:text", { x: 2, y: Y(y1) + 4 }, num(y1)), el("svg:text", { x: 2, y: Y(0) }, "0"),
    el("svg:text", { x: pad, y: h - 2 }, time(x0)), el("svg:text", { x: w - pad, y: h - 2, "text-anchor": "end" }, time(x1)));
  lines.forEach((l, k) => {
    if (!l.points.length) return;
    const d = l.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    svg.append(el("svg:path", { d, fill: "none", stroke: l.color || COLORS[k], "stroke-width": 2 }),
      el("svg:text", { x: w - pad - 60 * (lines.length - k), y: 12, fill: l.color || COLORS[k] }, l.name));
  });
}

function seriesLabel(s) {
  const dims = Object.entries(s.dimensions).filter(([k]) => k !== "Service").map(([k, v]) => `${k}=${v}`).join(" ");
  return `${s.name} ${dims}`;
}

function drawMetrics(m) {
  barChart($("chart-routes"), m.routes.map((r) => ({ label: r.route, value: r.requests })));
  const buckets = m.latency.filter((b) => b.requests > 0);
  lineChart($("chart-latency"), [
    { name: "p50", points: buckets.map((b) => [b.time_ms, b.p50_ms]) },
    { name: "p99", points: buckets.map((b) => [b.time_ms, b.p99_ms]), color: COLORS[1] },
  ], 420, 200);
  const c = m.cache;
  $("cache-ratio").textContent = c.ratio === null ? "–" : `${(c.ratio * 100).toFixed(1)} %`;
  const total = c.hits + c.misses + c.errors;
  const cache = $("chart-cache");
  cache.replaceChildren();
  if (total > 0) {
    let x = 0;
    [[c.hits, COLORS[2], "hits"], [c.misses, COLORS[3], "misses"], [c.errors, COLORS[1], "errors"]].forEach(([v, color, name]) => {
      const wdt = (420 * v) / total;
      cache.append(el("svg:rect", { x, y: 0, width: wdt, height: 30, fill: color }, el("svg:title", {}, `${name}: ${v}`)));
      x += wdt;
    });
  }
  const breakers = $("breakers");
  if (m.breakers.length) {
    breakers.replaceChildren(...m.breakers.map((b) => el("div", { "data-testid": "breaker", "data-breaker": b.breaker, "data-state": b.state },
      el("span", { class: "badge " + b.state }, b.state), ` ${b.breaker} `, el("span", { class: "muted" }, `${b.function} · ${time(b.time_ms)}`))));
  }
  $("emf-lines").textContent = `${m.emf_lines} EMF line(s) read`;
  const select = $("series-select");
  const labels = m.series.map(seriesLabel);
  if (select.options.length !== labels.length) {
    const chosen = select.value;
    select.replaceChildren(...labels.map((l, i) => el("option", { value: l }, l)));
    if (labels.includes(chosen)) select.value = chosen;
  }
  const s = m.series[labels.indexOf(select.value)];
  lineChart($("chart-series"), s ? [{ name: s.name, points: s.points }] : [], 860, 160);
}

// --- faults -------------------------------------------------------------------------------
function describeRule(r) {
  const s = r.spec || r;
  const a = s.action || {};
  const what = a.kind === "latency" ? `latency ${a.ms} ms` : a.kind === "error" ? `error ${a.status} ${a.code ?? ""}` : a.kind;
  return `#${r.id} ${s.service}${s.operation ? " " + s.operation : ""}${s.match ? ` ~"${s.match}"` : ""}: ${what}` +
    `${s.count ? ` (count ${s.count})` : ""} · hits ${r.hits ?? 0}${r.spent ? " · spent" : ""}`;
}

function drawFaults(f) {
  fill($("faults-list"), f.rules.length ? f.rules.map((r) => el("li", { "data-testid": "fault-row", "data-id": r.id },
    describeRule(r), " ", el("button", { type: "button", onclick: () => api(`/faults/${r.id}`, { method: "DELETE" }).then(refresh, showError) }, "remove")))
    : [el("li", { class: "muted" }, "no fault rule")]);
  const st = (d) => d.state === "exited" ? `exited (${d.status})` : d.state;
  $("deps").textContent = `redis: ${st(f.redis)} · emulator: ${st(f.emulator)}`;
}

$("fault-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const kind = $("fault-action").value, n = $("fault-ms").value.trim();
  const action = kind === "latency" ? { kind, ms: Number(n || 800) } : kind === "error" ? { kind, status: Number(n || 500), code: "InternalServerError" } : { kind };
  const spec = { service: $("fault-service").value, action };
  if ($("fault-operation").value.trim()) spec.operation = $("fault-operation").value.trim();
  if ($("fault-match").value.trim()) spec.match = $("fault-match").value.trim();
  if ($("fault-count").value.trim()) spec.count = Number($("fault-count").value.trim());
  try {
    const r = await api("/faults", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(spec) });
    $("fault-result").textContent = `added rule ${r.id}`;
  } catch (e) {
    $("fault-result").textContent = `refused: ${e.message}`;
  }
  refresh();
});

$("faults-clear").addEventListener("click", async () => {
  try {
    const r = await api("/faults", { method: "DELETE" });
    $("fault-result").textContent = `removed ${r.removed} rule(s)${r.redis ? "; " + r.redis : ""}`;
  } catch (e) {
    $("fault-result").textContent = `clear failed: ${e.message}`;
  }
  refresh();
});

// --- polling ------------------------------------------------------------------------------
function showError(e) {
  $("updated").textContent = `devstack does not answer: ${e.message}`;
}

async function refreshQueues() {
  drawQueues(await api("/console/api/queues"));
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const [recent, functions, metrics, faults] = await Promise.all([
      api("/console/api/requests?limit=100"), api("/console/api/functions"), api("/console/api/metrics"), api("/faults"),
    ]);
    drawRequests(recent);
    drawFunctions(functions);
    drawMetrics(metrics);
    drawFaults(faults);
    await Promise.all([refreshQueues(), refreshSaga()]);
    $("updated").textContent = `updated ${time(Date.now())}`;
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
  }
}

refresh();
setInterval(refresh, POLL_MS);
