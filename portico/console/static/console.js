// The Portico console: polls the gateway's /_portico/api and redraws. Everything shown is set
// as text (never as HTML), so nothing a request or a job carries can run here.

const API = "/_portico/api";
const POLL_MS = 1000;
const SHOWN_REQUESTS = 100;

const state = { lastSeq: 0, requests: [], kinds: {}, traceId: null, selectedSpan: null };

function el(tag, { text, cls, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function cell(content, cls) {
  const td = el("td", { cls });
  if (content instanceof Node) td.append(content); else td.textContent = content ?? "";
  return td;
}

function rows(testid, items, render, emptyText) {
  const body = document.querySelector(`[data-testid="${testid}"] tbody`);
  if (items && items.error) {
    body.replaceChildren(el("tr", {}, [el("td", { text: items.error, cls: "error", attrs: { colspan: "9" } })]));
    return;
  }
  if (!items || items.length === 0) {
    body.replaceChildren(el("tr", {}, [el("td", { text: emptyText, cls: "empty", attrs: { colspan: "9" } })]));
    return;
  }
  body.replaceChildren(...items.map(render));
}

async function getJson(path) {
  const response = await fetch(API + path, { headers: { Accept: "application/json" } });
  if (!response.ok && response.status !== 404) throw new Error(`${path}: HTTP ${response.status}`);
  return { status: response.status, body: await response.json() };
}

function traceButton(traceId) {
  if (!traceId) return "";
  const button = el("button", { text: traceId.slice(0, 8), cls: "link mono", attrs: { "data-trace": traceId, title: "open this trace" } });
  button.addEventListener("click", () => openTrace(traceId));
  return button;
}

function stateClass(value) {
  // "running (idle)" -> "running", "at zero" -> "at-zero"
  return "state " + String(value).split(" (")[0].replace(/\s+/g, "-");
}

function renderFunction(f) {
  state.kinds[f.name] = f.kind;
  const where = f.route || (f.queue ? `queue ${f.queue}` : "");
  const chips = el("span", {}, f.policies.map((p) => el("span", { text: p, cls: "chip" })));
  return el("tr", { attrs: { "data-function": f.name } }, [
    cell(el("strong", { text: f.name })),
    cell(where, "mono"),
    cell(chips, "wrap"),
    cell(el("span", { text: f.state, cls: stateClass(f.state), attrs: { "data-testid": "function-state" } })),
    cell(f.cold_starts === null ? "–" : String(f.cold_starts)),
  ]);
}

function renderRequest(r) {
  const when = new Date(r.at * 1000).toLocaleTimeString();
  const row = el("tr", { attrs: { "data-request-id": r.request_id } }, [
    cell(when),
    cell(`${r.method} ${r.path}`, "mono"),
    cell(r.function || "–"),
    cell(r.consumer || "–"),
    cell(el("span", { text: r.status, cls: "s" + String(r.status)[0] })),
    cell(`${r.latency_ms.toFixed(1)} ms${r.cold_start ? " (cold)" : ""}`),
    cell(r.request_id, "mono"),
    cell(traceButton(r.trace_id)),
  ]);
  if (r.fresh) row.classList.add("fresh");
  return row;
}

function renderQueue(q) {
  return el("tr", { attrs: { "data-queue": q.queue } }, [
    cell(q.queue, "mono"), cell(String(q.waiting)), cell(String(q.running)),
    cell(String(q.retrying)), cell(el("span", { text: q.failed, cls: q.failed ? "s5" : "" })),
  ]);
}

function renderBacklog(b) {
  const oldest = b.oldest_undelivered_seconds === null ? "–" : `${b.oldest_undelivered_seconds.toFixed(1)} s`;
  return el("tr", { attrs: { "data-queue": b.queue } }, [
    cell(b.queue, "mono"), cell(String(b.rows)), cell(el("span", { text: b.undelivered, cls: b.undelivered ? "s4" : "" })), cell(oldest),
  ]);
}

function renderDeadLetter(d) {
  const button = el("button", { text: "Replay", attrs: { "data-replay": d.job_id } });
  button.addEventListener("click", () => replay(d.job_id, button));
  return el("tr", { attrs: { "data-job-id": d.job_id } }, [
    cell(d.job_id, "mono"), cell(d.queue, "mono"), cell(d.failed_at || "?"),
    cell(d.error, "wrap"), cell(d.request_id || "–", "mono"), cell(traceButton(d.trace_id)), cell(button),
  ]);
}

async function replay(jobId, button) {
  button.disabled = true;
  const notice = document.querySelector('[data-testid="replay-result"]');
  try {
    const response = await fetch(`${API}/dead-letters/${encodeURIComponent(jobId)}/replay`, {
      method: "POST", headers: { "X-Portico-Console": "1" },
    });
    const body = await response.json();
    notice.textContent = response.ok ? `Replayed ${body.replayed} onto ${body.queue}.` : body.detail;
    notice.className = response.ok ? "notice" : "notice error";
  } catch (error) {
    notice.textContent = `Replay failed: ${error}`;
    notice.className = "notice error";
  }
  await pollOverview();
}

async function pollOverview() {
  const { body } = await getJson("/overview");
  rows("functions", body.functions, renderFunction, "No functions.");
  rows("queues", body.queues, renderQueue, "No queues.");
  rows("outbox", body.outbox, renderBacklog, "Empty: every committed message is on its queue.");
  rows("dead-letters", body.dead_letters, renderDeadLetter, "None.");
}

async function pollRequests() {
  const { body } = await getJson(`/requests?after=${state.lastSeq}`);
  for (const r of state.requests) r.fresh = false;
  for (const r of body.requests) r.fresh = state.lastSeq > 0;
  state.requests = body.requests.reverse().concat(state.requests).slice(0, SHOWN_REQUESTS);
  if (body.last < state.lastSeq) state.requests = body.requests; // a new gateway: a new feed
  state.lastSeq = body.last;
  document.querySelector('[data-testid="requests-empty"]').hidden = state.requests.length > 0;
  if (body.requests.length > 0 || state.requests.length === 0) {
    const tbody = document.querySelector('[data-testid="requests"] tbody');
    tbody.replaceChildren(...state.requests.map(renderRequest));
  }
}

function depthOf(span, byId) {
  let depth = 0;
  for (let parent = byId[span.parent_id]; parent && depth < 32; parent = byId[parent.parent_id]) depth++;
  return depth;
}

function ordered(spans) {
  // Parents before their children, siblings by start time: the waterfall reads top-down.
  const children = {};
  const ids = new Set(spans.map((s) => s.span_id));
  for (const s of spans) {
    const parent = ids.has(s.parent_id) ? s.parent_id : "";
    (children[parent] ||= []).push(s);
  }
  const out = [];
  const visit = (id) => {
    for (const s of (children[id] || []).sort((a, b) => a.start_ns - b.start_ns)) { out.push(s); visit(s.span_id); }
  };
  visit("");
  return out;
}

function renderTrace(trace) {
  document.querySelector('[data-testid="trace-id"]').textContent = trace.trace_id;
  document.querySelector('[data-testid="trace-summary"]').textContent =
    `${trace.spans.length} spans across ${trace.services.join(", ")} · ${trace.duration_ms.toFixed(1)} ms` +
    (trace.errors ? ` · ${trace.errors} failed` : "");
  const start = Math.min(...trace.spans.map((s) => s.start_ns));
  const total = Math.max(1, Math.max(...trace.spans.map((s) => s.end_ns)) - start);
  const byId = Object.fromEntries(trace.spans.map((s) => [s.span_id, s]));
  const cells = [];
  for (const s of ordered(trace.spans)) {
    const kind = s.service === "gateway" || s.service === "relay" ? s.service : state.kinds[s.service] || "";
    const bar = el("div", { cls: `bar ${kind}${s.error ? " failed" : ""}` });
    bar.style.left = `${((s.start_ns - start) / total) * 100}%`;
    bar.style.width = `${((s.end_ns - s.start_ns) / total) * 100}%`;
    const label = el("div", { cls: "label", attrs: { "data-span": s.name, "data-service": s.service, title: s.error || s.name } }, [
      el("span", { text: s.service, cls: "service" }), el("span", { text: s.name }),
    ]);
    label.style.paddingLeft = `${depthOf(s, byId) * 0.9}rem`;
    label.addEventListener("click", () => showAttributes(s));
    cells.push(label, el("div", { cls: "track" }, [bar]), el("div", { text: `${((s.end_ns - s.start_ns) / 1e6).toFixed(2)} ms`, cls: "took" }));
  }
  document.querySelector('[data-testid="waterfall"]').replaceChildren(...cells);
}

function showAttributes(span) {
  const pre = document.querySelector('[data-testid="span-attributes"]');
  const shown = { service: span.service, kind: span.kind, error: span.error, ...span.attributes };
  pre.textContent = `${span.name}\n` + Object.entries(shown).filter(([, v]) => v !== null)
    .map(([k, v]) => `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");
  pre.hidden = false;
}

async function pollTrace() {
  if (!state.traceId) return;
  const { status, body } = await getJson(`/traces/${state.traceId}`);
  if (status === 404) {
    document.querySelector('[data-testid="trace-summary"]').textContent = "Waiting for its spans…";
    return;
  }
  renderTrace(body);
}

function openTrace(traceId) {
  state.traceId = traceId;
  history.replaceState(null, "", `#trace=${traceId}`);
  document.getElementById("trace-panel").hidden = false;
  document.querySelector('[data-testid="span-attributes"]').hidden = true;
  document.querySelector('[data-testid="waterfall"]').replaceChildren();
  pollTrace().catch(() => {});
  document.getElementById("trace-panel").scrollIntoView({ behavior: "smooth", block: "start" });
}

function closeTrace() {
  state.traceId = null;
  history.replaceState(null, "", location.pathname);
  document.getElementById("trace-panel").hidden = true;
}

async function poll() {
  const status = document.querySelector('[data-testid="status"]');
  try {
    await Promise.all([pollOverview(), pollRequests(), pollTrace()]);
    status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    status.classList.remove("down");
  } catch (error) {
    status.textContent = `gateway unreachable (${error.message}); retrying`;
    status.classList.add("down");
  }
  setTimeout(poll, POLL_MS);
}

document.getElementById("close-trace").addEventListener("click", closeTrace);
const linked = /^#trace=([0-9a-f]{32})$/.exec(location.hash);
if (linked) openTrace(linked[1]);
poll();
