// Lathe's admin dashboard: plain DOM and fetch against /admin/v1 with the admin key.
"use strict";

const $ = (sel) => document.querySelector(sel);
const key = () => sessionStorage.getItem("lathe-admin-key");

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-API-Key": key() || "", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    logout("The admin key was refused.");
    throw new Error("unauthorized");
  }
  if (!res.ok) {
    let message = `${res.status}`;
    try {
      const p = await res.json();
      message = p.detail || p.error || p.title || message;
    } catch (_) { /* not JSON */ }
    showError(message);
    throw new Error(message);
  }
  showError("");
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res;
}

const bytes = (n) => n == null ? "" : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
const age = (iso) => {
  if (!iso) return "";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
};
const until = (iso) => {
  if (!iso) return "never";
  const s = (Date.parse(iso) - Date.now()) / 1000;
  return s <= 0 ? "expired" : `in ${age(new Date(Date.now() - s * 1000).toISOString())}`;
};

function logout(message) {
  sessionStorage.removeItem("lathe-admin-key");
  location.hash = "";
  render();
  if (message) showError(message);
}

function loginView() {
  $("#nav").hidden = true;
  const input = el("input", { id: "admin-key", type: "password", autocomplete: "off", placeholder: "lta-...", required: "" });
  return el("form", {
    id: "login",
    onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem("lathe-admin-key", input.value.trim());
      try {
        await api("GET", "/admin/v1/tenants");
        location.hash = "#/tenants";
        render();
      } catch (_) { /* shown */ }
    },
  }, el("h1", {}, "Admin login"), el("label", {}, "Admin key ", input), el("button", { id: "login-button", type: "submit" }, "Log in"));
}

async function tenantsView() {
  const { tenants } = await api("GET", "/admin/v1/tenants");
  const name = el("input", { id: "tenant-name", placeholder: "team-a", required: "" });
  return el("section", {},
    el("h1", {}, "Tenants"),
    el("form", {
      id: "new-tenant",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const t = await api("POST", "/admin/v1/tenants", { name: name.value.trim() });
        location.hash = `#/tenants/${t.tenant_id}`;
      },
    }, el("label", {}, "New tenant ", name), el("button", { id: "create-tenant", type: "submit" }, "Create")),
    el("table", { id: "tenants" },
      el("tr", {}, ["Name", "Id", "Status", "Adapters max", "Storage max", "Tokens/min max", "Created"].map((h) => el("th", {}, h))),
      tenants.map((t) => el("tr", { "data-tenant": t.tenant_id },
        el("td", {}, el("a", { href: `#/tenants/${t.tenant_id}` }, t.name)),
        el("td", { class: "muted" }, t.tenant_id),
        el("td", {}, t.status),
        el("td", {}, t.quotas?.max_adapters ?? "—"),
        el("td", {}, t.quotas?.max_storage_bytes == null ? "—" : bytes(t.quotas.max_storage_bytes)),
        el("td", {}, t.quotas?.max_tokens_per_minute ?? "—"),
        el("td", {}, `${age(t.created_at)} ago`)))));
}

async function tenantView(id) {
  const [t, usage, keys, runs, storage] = await Promise.all([
    api("GET", `/admin/v1/tenants/${id}`),
    api("GET", `/admin/v1/tenants/${id}/usage`),
    api("GET", `/admin/v1/tenants/${id}/api_keys`),
    api("GET", `/admin/v1/tenants/${id}/training_runs`),
    api("GET", `/admin/v1/tenants/${id}/checkpoints`),
  ]);
  const reload = () => render();
  const quota = (field, value) => el("input", { id: `quota-${field}`, type: "number", min: "0", value: value ?? "", placeholder: "no limit" });
  const q = { max_adapters: quota("max_adapters", t.quotas?.max_adapters), max_storage_bytes: quota("max_storage_bytes", t.quotas?.max_storage_bytes), max_tokens_per_minute: quota("max_tokens_per_minute", t.quotas?.max_tokens_per_minute) };
  const newKey = el("div", { id: "new-key" });
  const suspended = t.status === "suspended";
  return el("section", {},
    el("h1", {}, `Tenant ${t.name} `, el("span", { class: "muted" }, `${t.tenant_id} · ${t.status}`)),
    el("button", {
      id: suspended ? "resume" : "suspend", type: "button", class: suspended ? "" : "danger",
      onclick: async () => {
        if (suspended || confirm(`Suspend ${t.name}? Its API keys stop working until it is resumed.`)) {
          await api("POST", `/admin/v1/tenants/${id}/${suspended ? "resume" : "suspend"}`, {});
          reload();
        }
      },
    }, suspended ? "Resume" : "Suspend"),
    el("h2", {}, "Usage"),
    el("div", { class: "cards", id: "usage" },
      [["Tokens trained", usage.tokens_trained], ["Tokens sampled", usage.tokens_sampled], ["Requests", usage.requests], ["Storage", bytes(usage.storage_bytes)], ["Active runs", usage.adapters]]
        .map(([label, value]) => el("div", { class: "card" }, el("b", {}, value), label))),
    el("h2", {}, "Quotas"),
    el("form", {
      id: "quotas",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {};
        for (const [k, input] of Object.entries(q)) body[k] = input.value === "" ? null : Number(input.value);
        await api("PUT", `/admin/v1/tenants/${id}/quotas`, body);
        reload();
      },
    }, el("label", {}, "Adapters", q.max_adapters), el("label", {}, "Storage bytes", q.max_storage_bytes), el("label", {}, "Tokens/min", q.max_tokens_per_minute), el("button", { id: "save-quotas", type: "submit" }, "Save")),
    el("h2", {}, "API keys"),
    el("button", {
      id: "issue-key", type: "button",
      onclick: async () => {
        const k = await api("POST", `/admin/v1/tenants/${id}/api_keys`, {});
        newKey.replaceChildren(el("p", {}, "Copy this key now; it is not shown again: "), el("code", { class: "key", id: "issued-key" }, k.api_key));
        const list = await api("GET", `/admin/v1/tenants/${id}/api_keys`);
        $("#keys").replaceWith(keysTable(list));
      },
    }, "Issue key"),
    newKey,
    keysTable(keys),
    el("h2", {}, "Training runs"),
    el("table", { id: "runs" },
      el("tr", {}, ["Run", "Base model", "Rank", "Status", "Steps", "Last loss", "Last request"].map((h) => el("th", {}, h))),
      runs.training_runs.map((r) => el("tr", { "data-run": r.training_run_id },
        el("td", {}, el("a", { href: `#/runs/${encodeURIComponent(r.training_run_id)}` }, r.training_run_id)),
        el("td", {}, r.base_model), el("td", {}, r.lora_rank), el("td", {}, r.status), el("td", {}, r.steps),
        el("td", {}, r.last_loss == null ? "" : r.last_loss.toFixed(4)), el("td", {}, r.last_request_at ? `${age(r.last_request_at)} ago` : "")))),
    el("h2", {}, `Adapter storage (${bytes(storage.total_bytes)})`),
    el("button", {
      id: "delete-expired", type: "button", class: "danger",
      onclick: async () => {
        if (confirm("Delete every expired checkpoint of this tenant that no sampling session uses?")) {
          const r = await api("POST", `/admin/v1/tenants/${id}/checkpoints/delete_expired`, {});
          reload();
          showError(r.kept_in_use.length ? `Kept ${r.kept_in_use.length} expired checkpoint(s) in use.` : "");
        }
      },
    }, "Delete expired"),
    el("table", { id: "checkpoints" },
      el("tr", {}, ["Checkpoint", "Type", "Size", "Age", "Expires", "Published", "In use", ""].map((h) => el("th", {}, h))),
      storage.checkpoints.map(({ checkpoint: c, in_use }) => {
        const [run, kind, name] = c.tinker_path.slice("tinker://".length).split("/");
        const path = `/admin/v1/tenants/${id}/checkpoints/${encodeURIComponent(run)}/${kind}/${encodeURIComponent(name)}`;
        return el("tr", { "data-checkpoint": c.tinker_path },
          el("td", {}, c.tinker_path), el("td", {}, c.checkpoint_type), el("td", { class: "size" }, bytes(c.size_bytes)),
          el("td", {}, age(c.time)), el("td", {}, until(c.expires_at)), el("td", {}, c.public ? "yes" : "no"), el("td", {}, in_use ? "yes" : "no"),
          el("td", {},
            el("button", { type: "button", class: "download", onclick: () => download(`${path}/archive`, `${name}.tar`) }, "Download"),
            el("button", {
              type: "button", class: "danger delete",
              onclick: async () => {
                if (confirm(`Delete ${c.tinker_path}? This cannot be undone.`)) {
                  await api("DELETE", path);
                  reload();
                }
              },
            }, "Delete")));
      })));
}

function keysTable(keys) {
  return el("table", { id: "keys" },
    el("tr", {}, ["Key", "Created", "Last used", "State", ""].map((h) => el("th", {}, h))),
    keys.map((k) => el("tr", { "data-key": k.key_prefix },
      el("td", { class: "muted" }, `${k.key_prefix}…`), el("td", {}, `${age(k.created_at)} ago`),
      el("td", {}, k.last_used_at ? `${age(k.last_used_at)} ago` : "never"), el("td", {}, k.revoked_at ? "revoked" : "active"),
      el("td", {}, k.revoked_at ? "" : el("button", {
        type: "button", class: "danger revoke",
        onclick: async () => {
          if (confirm(`Revoke ${k.key_prefix}…? Clients using it are refused at once.`)) {
            await api("DELETE", `/admin/v1/api_keys/${encodeURIComponent(k.key_prefix)}`);
            render();
          }
        },
      }, "Revoke")))));
}

async function download(path, filename) {
  const res = await api("GET", path);
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** An empty SVG of the given size, and a function that adds an element to it. */
function svgBox(id, cls, w, h) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("id", id);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  return [svg, add];
}

/** A line chart of one series, as SVG: `field` of each point over its `x` (labelled `xLabel`). */
function chart(id, title, points, field, cls, x = "step", xLabel = "step") {
  const w = 640, h = 220, pad = 40;
  const pts = points.filter((p) => p[field] != null && isFinite(p[field]));
  const [svg, add] = svgBox(id, "chart", w, h);
  add("text", { x: pad, y: 16 }, title);
  if (pts.length === 0) {
    add("text", { x: pad, y: h / 2 }, "nothing recorded yet");
    return svg;
  }
  const xs = pts.map((p) => p[x]), ys = pts.map((p) => p[field]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (v) => pad + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * (w - 2 * pad);
  const sy = (v) => h - pad + (y1 === y0 ? -0.5 : -(v - y0) / (y1 - y0)) * (h - 2 * pad);
  add("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#999" });
  add("line", { x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: "#999" });
  add("text", { x: 2, y: pad + 4 }, y1.toPrecision(3));
  add("text", { x: 2, y: h - pad }, y0.toPrecision(3));
  add("text", { x: pad, y: h - pad + 16 }, `${xLabel} ${x0}`);
  add("text", { x: w - pad - 40, y: h - pad + 16 }, `${xLabel} ${x1}`);
  add("polyline", { class: `series ${cls}`, points: pts.map((p) => `${sx(p[x]).toFixed(1)},${sy(p[field]).toFixed(1)}`).join(" ") });
  return svg;
}

/**
 * A heat map of one value per decoder layer (rows; lm_head last) and module (columns), as SVG:
 * white at 0, full colour at `max`, each cell labelled with its value.
 */
function heatMap(id, title, modules, field, max, hue) {
  const names = [...new Set(modules.map((m) => m.name))];
  const layers = [...new Set(modules.map((m) => m.layer))].sort((a, b) => (a < 0) - (b < 0) || a - b);
  const cw = 64, ch = 22, left = 64, top = 44;
  const [svg, add] = svgBox(id, "heatmap", left + cw * names.length + 8, top + ch * layers.length + 8);
  add("text", { x: 0, y: 14 }, title);
  names.forEach((n, c) => add("text", { x: left + c * cw + cw / 2, y: top - 8, "text-anchor": "middle" }, n));
  layers.forEach((l, r) => add("text", { x: 0, y: top + r * ch + 15 }, l < 0 ? "lm_head" : `layer ${l}`));
  for (const m of modules) {
    const c = names.indexOf(m.name), r = layers.indexOf(m.layer), v = m[field];
    const share = max > 0 ? Math.min(1, v / max) : 0;
    const cell = add("rect", {
      class: "cell", x: left + c * cw, y: top + r * ch, width: cw - 2, height: ch - 2,
      fill: `hsl(${hue} 70% ${(97 - 52 * share).toFixed(1)}%)`, "data-module": m.module, "data-value": v,
    });
    cell.append(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "title"), { textContent: `${m.module}: ${v}` }));
    add("text", { x: left + c * cw + cw / 2 - 1, y: top + r * ch + 15, "text-anchor": "middle", class: share > 0.6 ? "on-dark" : "" },
      Number.isInteger(v) ? v : Math.abs(v) < 0.1 ? v.toExponential(1) : v.toFixed(2));
  }
  return svg;
}

async function runView(id) {
  const m = await api("GET", `/admin/v1/training_runs/${encodeURIComponent(id)}/metrics`);
  const steps = m.steps.filter((s) => s.grad_norm != null); // rows of optimizer steps, not only probes
  const last = steps[steps.length - 1];
  const probed = m.steps.filter((s) => s.kl_from_base != null);
  const kl = probed.length ? `; KL from the base ${probed[probed.length - 1].kl_from_base.toFixed(4)} at step ${probed[probed.length - 1].step}` : "";
  const diagnostics = el("div", { id: "diagnostics" });
  return el("section", {},
    el("p", {}, el("a", { href: `#/tenants/${m.tenant_id}` }, "← tenant")),
    el("h1", {}, `Training run ${id}`),
    el("p", { id: "run-summary" }, (last ? `${steps.length} steps; last loss ${last.loss?.toFixed(4)}, grad norm ${last.grad_norm?.toFixed(4)}, learning rate ${last.learning_rate}` : "no optimizer steps yet") + kl),
    chart("loss-chart", "Loss per step (sum over the step's forward_backward)", m.steps, "loss", "loss"),
    chart("grad-chart", "Gradient norm per step", m.steps, "grad_norm", "grad"),
    chart("kl-chart", "KL from the base model per step (mean per token of the probing forward)", m.steps, "kl_from_base", "kl"),
    el("h2", {}, "Adapter diagnostics"),
    el("p", { class: "muted" }, `How far the adapter moved its base model: the live adapter and the run's last ${MAX_DIAGNOSED} checkpoints, computed by the worker beside its training steps.`),
    el("button", { id: "diagnose", type: "button", onclick: (ev) => diagnose(ev.target, m, diagnostics) }, "Diagnose"),
    diagnostics);
}

const MAX_DIAGNOSED = 10;

/** A future of the tenant's, polled until it is done: its result, or an Error with its message. */
async function settle(tenant, requestId) {
  for (;;) {
    const r = await api("POST", `/admin/v1/tenants/${tenant}/retrieve_future`, { request_id: requestId });
    if (r.type === "try_again") continue;
    if (r.error !== undefined && r.category !== undefined) throw new Error(r.error);
    return r;
  }
}

/** Queues adapter_diagnostics of the live adapter and of the run's last checkpoints, then shows them. */
async function diagnose(button, m, into) {
  button.disabled = true;
  const targets = [
    ...m.checkpoints.slice(-MAX_DIAGNOSED).map((c) => ({ label: `${c.tinker_path.split("/").slice(-2).join("/")} (step ${c.step})`, step: c.step, body: { model_path: c.tinker_path } })),
    { label: "live adapter", step: null, body: { model_id: m.training_run_id } },
  ];
  into.replaceChildren(el("p", { id: "diagnostics-status" }, `Diagnosing ${targets.length} adapter(s)…`));
  const results = await Promise.all(targets.map(async (t) => {
    try {
      const { request_id } = await api("POST", `/admin/v1/tenants/${m.tenant_id}/adapter_diagnostics`, t.body);
      return { ...t, diagnosis: await settle(m.tenant_id, request_id) };
    } catch (e) {
      return { ...t, error: e.message };
    }
  }));
  button.disabled = false;
  const done = results.filter((r) => r.diagnosis);
  const failed = results.filter((r) => r.error);
  into.replaceChildren(
    el("p", { id: "diagnostics-status" }, `Diagnosed ${done.length} of ${results.length} adapter(s).`,
      ...failed.map((r) => el("span", { class: "failure" }, ` ${r.label}: ${r.error}`))),
    ...(done.length ? diagnosisViews(done, m) : []));
}

/** The norm over checkpoints, and the chosen adapter's heat maps and spectra. */
function diagnosisViews(done, m) {
  const liveStep = m.steps.length ? m.steps[m.steps.length - 1].step : 0;
  const norms = done.map((r) => ({
    step: r.step ?? liveStep,
    norm: Math.sqrt(r.diagnosis.modules.reduce((a, mod) => a + mod.delta_norm ** 2, 0)),
  }));
  const pick = el("select", { id: "diagnosed" }, done.map((r, i) => el("option", { value: i }, r.label)));
  pick.value = String(done.length - 1);
  const shown = el("div", { id: "diagnosis" });
  const show = () => shown.replaceChildren(...oneDiagnosis(done[Number(pick.value)].diagnosis));
  pick.addEventListener("change", show);
  show();
  return [
    chart("norm-chart", "‖ΔW‖_F of the whole adapter, over its checkpoints and now", norms, "norm", "norm"),
    el("p", {}, el("label", {}, "Adapter ", pick)),
    shown,
  ];
}

function oneDiagnosis(d) {
  const byNorm = [...d.modules].sort((a, b) => b.delta_norm - a.delta_norm);
  const module = el("select", { id: "spectrum-module" }, byNorm.map((mod) => el("option", { value: mod.module }, mod.module)));
  const plot = el("div", {});
  const draw = () => {
    const mod = d.modules.find((x) => x.module === module.value);
    const values = mod.singular_values.map((v, i) => ({ index: i + 1, value: v }));
    plot.replaceChildren(chart("spectrum-chart",
      `Singular values of ${d.dora ? "D·s·B·A" : "s·B·A"}, ${mod.module}: effective rank ${mod.effective_rank.toFixed(2)} of ${d.rank}, ‖ΔW‖/‖W‖ ${mod.relative_norm.toExponential(2)}`,
      values, "value", "spectrum", "index", "σ"));
  };
  module.addEventListener("change", draw);
  draw();
  return [
    el("p", { id: "diagnosis-summary" }, `${d.dora ? "DoRA" : "LoRA"} rank ${d.rank}, scaling ${d.scaling}; intruder dimensions among the top ${d.top_k} singular vectors of W + s·B·A (|cos| < ${d.intruder_threshold}): ${d.modules.reduce((a, mod) => a + mod.intruder_dimensions, 0)}`),
    el("div", { class: "heatmaps" },
      heatMap("rank-heatmap", `Effective rank of s·B·A (of ${d.rank})`, d.modules, "effective_rank", d.rank, 215),
      heatMap("intruder-heatmap", `Intruder dimensions (of the top ${d.top_k})`, d.modules, "intruder_dimensions", d.top_k, 10),
      d.dora ? heatMap("magnitude-heatmap", "DoRA: magnitude change ‖m − m₀‖ / ‖W‖", d.modules, "magnitude_change",
        Math.max(...d.modules.map((mod) => mod.magnitude_change)), 140) : ""),
    el("p", {}, el("label", {}, "Spectrum of ", module)),
    plot,
  ];
}

let liveTimer = null;
async function liveView() {
  const live = await api("GET", "/admin/v1/live");
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => location.hash === "#/live" && render(), 2000);
  return el("section", {},
    el("h1", {}, "Live"),
    el("h2", {}, "Queue"),
    el("table", { id: "queue" },
      el("tr", {}, ["Primitive", "State", "Requests", "Oldest"].map((h) => el("th", {}, h))),
      live.queue.length ? live.queue.map((q) => el("tr", {}, el("td", {}, q.kind), el("td", {}, q.status), el("td", {}, q.count), el("td", {}, `${q.oldest_seconds.toFixed(1)} s`)))
        : el("tr", {}, el("td", { colspan: 4, class: "muted" }, "empty"))),
    el("h2", {}, "Workers"),
    el("table", { id: "workers" },
      el("tr", {}, ["Worker", "Base model", "Host", "Heartbeat", "Resident adapters", "Cache hit rate", "Last cycle", "Fused requests", "Decoding samples"].map((h) => el("th", {}, h))),
      live.workers.map((w) => el("tr", {},
        el("td", {}, w.worker_id), el("td", {}, w.base_model), el("td", {}, w.hostname), el("td", {}, `${age(w.heartbeat_at)} ago`),
        el("td", {}, `${w.stats.resident_adapters ?? 0} / ${w.stats.adapter_slots ?? "?"}`),
        el("td", {}, w.stats.hit_rate == null ? "" : `${(100 * w.stats.hit_rate).toFixed(1)} %`),
        el("td", {}, w.stats.last_cycle_ms == null ? "" : `${w.stats.last_cycle_ms.toFixed(1)} ms`),
        el("td", {}, w.stats.last_fused_requests ?? ""),
        el("td", {}, w.stats.decoding_samples ?? "")))));
}

async function render() {
  const main = $("#main");
  if (!key()) {
    main.replaceChildren(loginView());
    return;
  }
  $("#nav").hidden = false;
  const hash = location.hash || "#/tenants";
  try {
    let view;
    let m;
    if ((m = hash.match(/^#\/tenants\/([^/]+)$/))) view = await tenantView(decodeURIComponent(m[1]));
    else if ((m = hash.match(/^#\/runs\/(.+)$/))) view = await runView(decodeURIComponent(m[1]));
    else if (hash === "#/live") view = await liveView();
    else view = await tenantsView();
    main.replaceChildren(view);
  } catch (e) {
    if (e.message !== "unauthorized") main.replaceChildren(el("p", { class: "muted" }, "Could not load this page."));
  }
}

$("#logout").addEventListener("click", () => logout(""));
window.addEventListener("hashchange", render);
render();
