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

/** A line chart of one series over steps, as SVG. */
function chart(id, title, steps, field, cls) {
  const w = 640, h = 220, pad = 40;
  const pts = steps.filter((s) => s[field] != null && isFinite(s[field]));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", id);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("text", { x: pad, y: 16 }, `${title} per step`);
  if (pts.length === 0) {
    add("text", { x: pad, y: h / 2 }, "nothing recorded yet");
    return svg;
  }
  const xs = pts.map((p) => p.step), ys = pts.map((p) => p[field]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (w - 2 * pad);
  const sy = (y) => h - pad + (y1 === y0 ? -0.5 : -(y - y0) / (y1 - y0)) * (h - 2 * pad);
  add("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#999" });
  add("line", { x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: "#999" });
  add("text", { x: 2, y: pad + 4 }, y1.toPrecision(3));
  add("text", { x: 2, y: h - pad }, y0.toPrecision(3));
  add("text", { x: pad, y: h - pad + 16 }, `step ${x0}`);
  add("text", { x: w - pad - 40, y: h - pad + 16 }, `step ${x1}`);
  add("polyline", { class: `series ${cls}`, points: pts.map((p) => `${sx(p.step).toFixed(1)},${sy(p[field]).toFixed(1)}`).join(" ") });
  return svg;
}

async function runView(id) {
  const m = await api("GET", `/admin/v1/training_runs/${encodeURIComponent(id)}/metrics`);
  const steps = m.steps.filter((s) => s.grad_norm != null); // rows of optimizer steps, not only probes
  const last = steps[steps.length - 1];
  const probed = m.steps.filter((s) => s.kl_from_base != null);
  const kl = probed.length ? `; KL from the base ${probed[probed.length - 1].kl_from_base.toFixed(4)} at step ${probed[probed.length - 1].step}` : "";
  return el("section", {},
    el("p", {}, el("a", { href: `#/tenants/${m.tenant_id}` }, "← tenant")),
    el("h1", {}, `Training run ${id}`),
    el("p", { id: "run-summary" }, (last ? `${steps.length} steps; last loss ${last.loss?.toFixed(4)}, grad norm ${last.grad_norm?.toFixed(4)}, learning rate ${last.learning_rate}` : "no optimizer steps yet") + kl),
    chart("loss-chart", "Loss (sum over the step's forward_backward)", m.steps, "loss", "loss"),
    chart("grad-chart", "Gradient norm", m.steps, "grad_norm", "grad"),
    chart("kl-chart", "KL from the base model (mean per token of the probing forward)", m.steps, "kl_from_base", "kl"));
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
