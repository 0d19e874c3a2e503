// The mdb-backup console: a page of the clusters of a folder and a page per cluster, built only on
// the public REST API the SDKs use (every read and every action is one of its calls, with the
// token the person signed in with, kept in this tab's session storage only). The engines and
// their routes come from /openapi.json, which the server generates from its protos.
'use strict';

const state = {
  token: sessionStorage.getItem('mdb.token') || '',
  folder: sessionStorage.getItem('mdb.folder') || '',
  engines: null, // [{name, prefix, pitr: 'time'|'recoveryTargetSpec'|null, del: {verb, path}}]
  cancel: null, // OperationService.Cancel's {verb, path}
  timer: null,
  page: 0, // bumped at every render: work of a page left meanwhile schedules nothing
};

// ---- small helpers --------------------------------------------------------------------------

// Builds an element; children are nodes or strings (always text: nothing is parsed as HTML).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function bytes(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function age(t, now = Date.now()) {
  const s = Math.round((now - t) / 1000);
  const abs = Math.abs(s);
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.floor(abs / 60)}m`
             : abs < 86400 ? `${Math.floor(abs / 3600)}h` : `${Math.floor(abs / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

function when(t) {
  if (!t) return '-';
  const d = new Date(t);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function duration(a, b) {
  if (!a || !b) return '-';
  const s = Math.max(0, Math.round((Date.parse(b) - Date.parse(a)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m`;
}

const num = (v) => (v === undefined || v === null || v === '' ? undefined : Number(v));
// The sizes each engine's Backup reports (the contract names them differently, Redis has none).
const sizeOf = (b) => num(b.size) ?? num(b.totalSizeBytes) ?? num(b.sizeBytes);
const journalOf = (b) => num(b.journalSize) ?? num(b.incrementalSizeBytes);

function showError(err) {
  const box = document.getElementById('error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = err.message || String(err);
}

// ---- the API -------------------------------------------------------------------------------

async function api(verb, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method: verb, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch (e) { json = { message: text }; }
  if (!r.ok) {
    const err = new Error(json.message || `HTTP ${r.status}`);
    err.status = r.status;
    if (r.status === 401) signOut(err.message);
    throw err;
  }
  return json;
}

// Every page of a list, following nextPageToken (a repeated token ends the walk).
async function listAll(path, field, limit = 100) {
  const out = [];
  let token = '';
  for (let pages = 0; pages < limit; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', token ? `${path}${sep}pageToken=${encodeURIComponent(token)}` : path);
    out.push(...(page[field] || []));
    if (!page.nextPageToken || page.nextPageToken === token) break;
    token = page.nextPageToken;
  }
  return out;
}

// The engines and their routes, read from the server's own OpenAPI document.
async function loadEngines() {
  if (state.engines) return state.engines;
  const doc = await (await fetch('/openapi.json')).json();
  const byId = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [verb, op] of Object.entries(item)) byId[op.operationId] = { verb: verb.toUpperCase(), path };
  }
  const engines = [];
  for (const [id, route] of Object.entries(byId)) {
    const m = /^yandex\.cloud\.mdb\.(\w+)\.v1\.ClusterService\.List$/.exec(id);
    if (!m) continue;
    const name = m[1];
    const restore = doc.components.schemas[`yandex.cloud.mdb.${name}.v1.RestoreClusterRequest`] || { properties: {} };
    engines.push({
      name,
      prefix: route.path.replace(/\/clusters$/, ''),
      pitr: 'time' in restore.properties ? 'time' : 'recoveryTargetSpec' in restore.properties ? 'recoveryTargetSpec' : null,
      del: byId[`yandex.cloud.mdb.${name}.v1.BackupService.Delete`] || byId[`yandex.cloud.mdb.${name}.v1.ClusterService.DeleteBackup`],
    });
  }
  state.engines = engines.sort((a, b) => a.name.localeCompare(b.name));
  state.cancel = byId['yandex.cloud.operation.OperationService.Cancel']; // GET in the contract
  state.drill = byId['mdb_backup.v1.RecoveryService.DrillBackup'];
  state.verifications = byId['mdb_backup.v1.RecoveryService.ListVerifications'];
  return state.engines;
}

const engineOf = (name) => state.engines.find((e) => e.name === name);
const isTarget = (c) => (c.labels || {}).restore_target === 'true';

// An operation's progress: [done, total] bytes, or null when it reports none.
function progressOf(op) {
  const m = op.metadata || {};
  const total = num(m.bytesTotal);
  return total ? [num(m.bytesDone) || 0, total] : null;
}

// A progress bar, its width set through the CSSOM (the page's CSP allows no inline style).
function bar(pct) {
  const fill = h('span', {});
  fill.style.width = `${pct}%`;
  return h('span', { class: 'bar' }, fill);
}

function progressCell(op) {
  if (op.done) {
    if (op.error) return h('span', { class: 'age-bad', title: op.error.message }, `FAILED: ${op.error.message}`);
    return h('span', { class: 'progress' }, bar(100), '100%');
  }
  const p = progressOf(op);
  const pct = p ? Math.min(100, Math.floor((100 * p[0]) / p[1])) : 0;
  return h('span', { class: 'progress' }, bar(pct), p ? `${pct}%  ${bytes(p[0])} of ${bytes(p[1])}` : 'starting');
}

// ---- pages ---------------------------------------------------------------------------------

// Back to the sign-in form (the page asked for stays in the address: it opens after signing in).
function signOut(why) {
  sessionStorage.removeItem('mdb.token');
  state.token = '';
  render().then(() => showError(why ? new Error(why) : null));
}

function signInPage() {
  const token = h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'the API token' });
  const folder = h('input', { id: 'folder', value: state.folder, placeholder: 'e.g. f1' });
  const form = h('form', { class: 'card signin', onsubmit: (e) => {
    e.preventDefault();
    state.token = token.value.trim();
    state.folder = folder.value.trim();
    sessionStorage.setItem('mdb.token', state.token);
    sessionStorage.setItem('mdb.folder', state.folder);
    render();
  } },
  h('h1', {}, 'Sign in'),
  h('label', { for: 'token' }, 'Token (kept in this tab only)'), token,
  h('label', { for: 'folder' }, 'Folder'), folder,
  h('p', {}, h('button', { class: 'primary', type: 'submit', id: 'signin' }, 'Sign in')));
  return form;
}

// The hosts' health as the server's last pre-flight check found them (before each backup).
function healthCell(c, tag = 'td') {
  const health = c.health || 'HEALTH_UNKNOWN';
  const cls = { ALIVE: 'age-ok', DEGRADED: 'age-warn', DEAD: 'age-bad' }[health] || 'muted';
  const text = { ALIVE: 'alive', DEGRADED: 'degraded', DEAD: 'down' }[health] || 'not checked yet';
  return h(tag, { class: cls, 'data-health': health }, text);
}

// The colour of a last backup's age against the daily schedule (+ the 10 min spread).
function ageClass(cluster, last) {
  if (!last) return 'age-bad';
  const hours = (Date.now() - Date.parse(last.createdAt)) / 3.6e6;
  if (!(cluster.config || {}).backupWindowStart) return 'age-ok';
  return hours <= 26 ? 'age-ok' : hours <= 50 ? 'age-warn' : 'age-bad';
}

async function clustersPage(main, page) {
  const engines = await loadEngines();
  const lists = await Promise.all(engines.map((e) => listAll(
    `${e.prefix}/clusters?folderId=${encodeURIComponent(state.folder)}&pageSize=1000`, 'clusters')
    .then((cs) => cs.map((c) => ({ ...c, engine: e.name })))));
  if (page !== state.page) return; // left for another page meanwhile
  const clusters = lists.flat().sort((a, b) => a.id.localeCompare(b.id));
  const rows = new Map();
  const tbody = h('tbody', {}, clusters.map((c) => {
    const cells = { last: h('td', { class: 'muted' }, '…'), window: h('td', { class: 'hide-narrow muted' }, '…'),
                    stored: h('td', { class: 'num' }, '…'), running: h('td', {}, '') };
    rows.set(c.id, { cluster: c, cells });
    return h('tr', { 'data-cluster': c.id },
      h('td', {}, h('a', { href: `#/cluster/${c.engine}/${encodeURIComponent(c.id)}` }, c.id)),
      h('td', {}, c.engine), h('td', { class: 'hide-narrow' }, isTarget(c) ? 'restore target' : 'protected'),
      healthCell(c), cells.last, cells.window, cells.stored, cells.running);
  }));
  main.replaceChildren(
    h('h1', {}, `Clusters in folder ${state.folder}`),
    h('div', { class: 'card scroll' }, clusters.length ? h('table', { id: 'clusters' },
      h('thead', {}, h('tr', {}, ['Cluster', 'Engine', 'Role', 'Hosts', 'Last backup', 'Restorable', 'Stored', 'Running']
        .map((t, i) => h('th', { class: i === 2 || i === 5 ? 'hide-narrow' : undefined }, t)))), tbody)
      : h('p', { class: 'muted' }, 'No clusters are declared in this folder.')));
  window.mdbClustersRendered = performance.now();
  // The details of each row (its backups and operations), a few at a time, then the running ones
  // again every two seconds.
  const queue = [...rows.values()];
  const fill = async ({ cluster, cells }) => {
    const e = engineOf(cluster.engine);
    const path = `${e.prefix}/clusters/${encodeURIComponent(cluster.id)}`;
    const [backups, ops] = await Promise.all([
      listAll(`${path}/backups?pageSize=1000`, 'backups', 10), api('GET', `${path}/operations?pageSize=10`)]);
    const last = backups[0];
    cells.last.className = isTarget(cluster) ? 'muted' : ageClass(cluster, last);
    cells.last.textContent = isTarget(cluster) ? '-' : last ? `${age(Date.parse(last.createdAt))}` : 'never';
    cells.window.textContent = backups.length
      ? `${when(backups[backups.length - 1].createdAt)} → ${e.pitr ? 'now (as far as the journal is archived)' : when(last.createdAt)}` : '-';
    const stored = backups.reduce((s, b) => s + (sizeOf(b) || 0), 0);
    cells.stored.textContent = backups.some((b) => sizeOf(b) !== undefined) ? bytes(stored) : '-';
    const running = (ops.operations || []).filter((o) => !o.done);
    cells.running.replaceChildren(...running.map((o) => h('div', {}, progressCell(o), ' ', o.description)));
    return running.length > 0;
  };
  const busy = new Set();
  const workers = Array.from({ length: 6 }, async () => {
    while (queue.length) {
      const row = queue.shift();
      try { if (await fill(row)) busy.add(row); } catch (err) { row.cells.last.textContent = err.message; }
    }
  });
  await Promise.all(workers);
  window.mdbClustersFilled = performance.now();
  schedule(async () => {
    for (const row of [...busy]) if (!(await fill(row))) busy.delete(row);
  }, 2000, page);
}

async function clusterPage(main, engineName, id, page) {
  const engines = await loadEngines();
  const e = engines.find((x) => x.name === engineName);
  if (!e) throw new Error(`unknown engine ${engineName}`);
  const base = `${e.prefix}/clusters/${encodeURIComponent(id)}`;
  const drills = state.verifications
    ? api('GET', state.verifications.path.replace('{cluster_id}', encodeURIComponent(id))).catch(() => ({}))
    : Promise.resolve({});
  const [cluster, backups, ops, win, siblings, drilled] = await Promise.all([
    api('GET', base), listAll(`${base}/backups?pageSize=1000`, 'backups'),
    api('GET', `${base}/operations?pageSize=20`),
    // The window apart: the page (backups, restore form) stays usable when it cannot be had.
    api('GET', `/mdb-backup/v1/clusters/${encodeURIComponent(id)}/recoveryWindow`).catch((err) => ({ error: err.message })),
    listAll(`${e.prefix}/clusters?folderId=${encodeURIComponent(state.folder)}&pageSize=1000`, 'clusters'), drills]);
  const verified = {}; // backup id -> its newest drill (RecoveryService.ListVerifications)
  for (const v of drilled.backups || []) if (v.verification) verified[v.backupId] = v.verification;
  if (page !== state.page) return; // left for another page meanwhile
  const operations = ops.operations || [];
  const cfg = cluster.config || {};
  const windowStart = cfg.backupWindowStart;
  // Runs an action; a page it names (a restore's target) is shown next, else this one again.
  const act = async (fn) => {
    showError(null);
    let next;
    try { next = await fn(); } catch (err) { showError(err); }
    if (typeof next === 'string' && next !== location.hash) location.hash = next;
    else render();
  };
  const backupNow = () => act(() => api('POST', `${base}:backup`));
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Engine'), h('dd', {}, e.name), h('dt', {}, 'Folder'), h('dd', {}, cluster.folderId),
    h('dt', {}, 'Role'), h('dd', {}, isTarget(cluster) ? 'restore target (not backed up)' : 'protected'),
    h('dt', {}, 'Hosts'), healthCell(cluster, 'dd'),
    h('dt', {}, 'Schedule'), h('dd', {}, windowStart
      ? `AUTOMATED daily at ${String(windowStart.hours || 0).padStart(2, '0')}:${String(windowStart.minutes || 0).padStart(2, '0')} UTC, kept ${cfg.backupRetainPeriodDays} days`
      : 'MANUAL only'),
    h('dt', {}, 'Backups'), h('dd', {}, String(backups.length)));
  main.replaceChildren(
    h('h1', {}, cluster.name || id, cluster.name && cluster.name !== id ? h('span', { class: 'muted' }, ` ${id}`) : null),
    h('div', { class: 'card' }, facts, h('p', {},
      h('button', { class: 'primary', id: 'backup-now', onclick: backupNow, disabled: isTarget(cluster) }, 'Back up now'))),
    h('h2', {}, 'Operations'), operationsTable(operations, act),
    h('h2', {}, 'Restorable window'), h('div', { class: 'card scroll' }, timeline(backups, win)),
    h('h2', {}, 'Size over time'), h('div', { class: 'card scroll' }, sizeChart(backups)),
    h('h2', {}, 'Backups'), backupsTable(backups, e, act, verified),
    h('h2', {}, 'Restore'), restoreForm(backups, e, siblings, act));
  if (operations.some((o) => !o.done)) {
    schedule(async () => {
      const now = await api('GET', `${base}/operations?pageSize=20`);
      const list = now.operations || [];
      document.getElementById('operations').replaceWith(operationsTable(list, act));
      if (!list.some((o) => !o.done)) render(); // the new backup, its size, the window
    }, 1000, page);
  }
}

function operationsTable(operations, act) {
  return h('div', { class: 'card scroll', id: 'operations' }, operations.length ? h('table', {},
    h('thead', {}, h('tr', {}, ['Started', 'Description', 'Status', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, operations.map((o) => h('tr', { 'data-operation': o.id, 'data-done': String(!!o.done) },
      h('td', {}, when(o.createdAt)), h('td', {}, o.description), h('td', { class: 'status' }, progressCell(o)),
      h('td', {}, o.done ? '' : h('button', { class: 'danger', onclick: () => act(() => api(state.cancel.verb, state.cancel.path.replace('{operation_id}', encodeURIComponent(o.id)))) }, 'Cancel'))))))
    : h('p', { class: 'muted' }, 'No operations yet.'));
}

// A backup's newest restore drill: passed or failed, when; what it checked, or why it failed,
// on hover.
function drillCell(v) {
  if (!v) return h('td', { class: 'drill', 'data-drill': 'never' }, 'never');
  const result = v.ok ? 'passed' : 'FAILED';
  return h('td', { class: `drill ${v.ok ? 'age-ok' : 'age-bad'}`, 'data-drill': result,
    title: v.ok ? (v.checked || []).join('\n') : v.message || '' }, `${result} ${age(Date.parse(v.verifiedAt))}`);
}

function backupsTable(backups, e, act, verified = {}) {
  const drill = (b) => act(() => api(state.drill.verb, state.drill.path.replace('{backup_id}', encodeURIComponent(b.id)), {}));
  const del = (b) => {
    if (!confirm(`Delete backup ${b.id}? Its data is removed from the repository.`)) return;
    act(() => api(e.del.verb, e.del.path.replace(/\{\w+\}/g, (m) => (m === '{backup_id}' ? encodeURIComponent(b.id) : encodeURIComponent(b.sourceClusterId)))));
  };
  return h('div', { class: 'card scroll' }, backups.length ? h('table', { id: 'backups' },
    h('thead', {}, h('tr', {}, ['Backup', 'Type', 'Method', 'Started', 'Created', 'Duration', 'Size', 'Journal', 'Drill', '']
      .map((t) => h('th', {}, t)))),
    h('tbody', {}, backups.map((b) => h('tr', { 'data-backup': b.id },
      h('td', {}, b.id), h('td', {}, b.type || '-'), h('td', {}, b.method || '-'),
      h('td', { class: 'hide-narrow' }, when(b.startedAt)), h('td', {}, `${when(b.createdAt)} (${age(Date.parse(b.createdAt))})`),
      h('td', { class: 'num' }, duration(b.startedAt, b.createdAt)), h('td', { class: 'num' }, bytes(sizeOf(b))),
      h('td', { class: 'num' }, bytes(journalOf(b))), drillCell(verified[b.id]),
      h('td', { class: 'actions' },
        state.drill ? h('button', { class: 'drill', onclick: () => drill(b), title: 'Restore it into throwaway servers and check it' }, 'Drill') : '',
        e.del ? h('button', { class: 'danger', onclick: () => del(b) }, 'Delete') : '')))))
    : h('p', { class: 'muted' }, 'No backups yet.'));
}

// What a restore reaches (RecoveryService.GetRecoveryWindow: spans, the gaps between them and
// why) and the backups, on one time axis from the oldest point to now.
function timeline(backups, win) {
  if (win.error) return h('p', { class: 'age-bad' }, `The restorable window is not available: ${win.error}`);
  const spans = win.spans || [];
  if (!spans.length) return h('p', { class: 'muted' }, 'Nothing to restore yet.');
  const W = 900, H = 80, pad = 30;
  const t0 = Date.parse(win.earliest), t1 = Math.max(Date.now(), Date.parse(win.latest));
  const x = (t) => pad + ((W - 2 * pad) * (t - t0)) / Math.max(1, t1 - t0);
  const parts = [svg('line', { x1: pad, x2: W - pad, y1: 40, y2: 40, stroke: '#c9ced8' })];
  for (const s of spans) {
    const a = x(Date.parse(s.from)), b = x(Date.parse(s.to));
    parts.push(svg('rect', { x: a, y: 34, width: Math.max(2, b - a), height: 12, fill: '#2b5fd955', 'data-span': s.backupIds.join(' ') },
      svg('title', {}, `restorable ${when(s.from)} → ${when(s.to)}`)));
  }
  for (const g of win.gaps || []) {
    const a = x(Date.parse(g.from)), b = x(Date.parse(g.to));
    parts.push(svg('rect', { x: a, y: 34, width: Math.max(2, b - a), height: 12, fill: '#c5303055', 'data-gap': '1' },
      svg('title', {}, `not restorable ${when(g.from)} → ${when(g.to)}: ${g.reason}`)));
  }
  for (const b of backups) {
    parts.push(svg('circle', { cx: x(Date.parse(b.createdAt)), cy: 40, r: 5, fill: '#2b5fd9', 'data-backup': b.id },
      svg('title', {}, `${b.id} ${when(b.createdAt)}`)));
  }
  parts.push(svg('text', { x: pad, y: 20 }, when(win.earliest)), svg('text', { x: W - pad, y: 20, 'text-anchor': 'end' }, 'now'));
  const summary = win.pointInTime
    ? `any moment in the blue spans, up to ${when(win.latest)} (${win.latestReason || ''})`
    : `the backups' own points (${spans.length})`;
  parts.push(svg('text', { x: pad, y: 72 }, summary));
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', id: 'timeline', role: 'img' }, parts);
}

// Each backup's size and its journal's, oldest to newest.
function sizeChart(backups) {
  const points = [...backups].reverse().map((b) => ({ b, t: Date.parse(b.createdAt), size: sizeOf(b), journal: journalOf(b) }));
  if (!points.some((p) => p.size !== undefined)) return h('p', { class: 'muted' }, 'This engine reports no backup sizes.');
  const W = 900, H = 180, pad = 40;
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const top = Math.max(1, ...points.map((p) => Math.max(p.size || 0, p.journal || 0)));
  const x = (t) => pad + ((W - 2 * pad) * (t - t0)) / (t1 - t0 || 1);
  const y = (v) => H - pad + 10 - ((H - pad - 10) * v) / top;
  const line = (key, color, label) => [
    svg('polyline', { points: points.filter((p) => p[key] !== undefined).map((p) => `${x(p.t)},${y(p[key])}`).join(' '),
                      fill: 'none', stroke: color, 'stroke-width': 2 }),
    ...points.filter((p) => p[key] !== undefined).map((p) => svg('circle', {
      cx: x(p.t), cy: y(p[key]), r: 4, fill: color, 'data-backup': p.b.id, 'data-series': key },
      svg('title', {}, `${p.b.id}: ${label} ${bytes(p[key])}`))),
  ];
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', id: 'size-chart', role: 'img' },
    svg('text', { x: 4, y: 14 }, bytes(top)), svg('text', { x: 4, y: H - pad + 10 }, '0'),
    svg('line', { x1: pad, x2: W - pad, y1: H - pad + 10, y2: H - pad + 10, stroke: '#c9ced8' }),
    line('size', '#2b5fd9', 'size'), line('journal', '#1f8a4c', 'journal'),
    svg('text', { x: pad, y: H - 4 }, '● size   '), svg('text', { x: pad + 80, y: H - 4, fill: '#1f8a4c' }, '● journal'));
}

function restoreForm(backups, e, siblings, act) {
  if (!backups.length) return h('p', { class: 'muted' }, 'Take a backup first.');
  const backup = h('select', { id: 'restore-backup' }, backups.map((b) => h('option', { value: b.id }, `${b.id} (${when(b.createdAt)})`)));
  const targets = [...siblings].sort((a, b) => Number(isTarget(b)) - Number(isTarget(a)));
  const target = h('select', { id: 'restore-target' }, targets.map((c) => h('option', { value: c.id },
    `${c.id}${isTarget(c) ? ' (restore target)' : ''}`)));
  const time = e.pitr ? h('input', { id: 'restore-time', type: 'datetime-local', step: 1 }) : null;
  const submit = (ev) => {
    ev.preventDefault();
    const body = { backupId: backup.value, folderId: state.folder, name: target.value, environment: 'PRODUCTION',
                   networkId: 'local', configSpec: {}, hostSpecs: [{}] };
    if (time && time.value) {
      const at = new Date(time.value);
      if (e.pitr === 'time') body.time = at.toISOString();
      else body.recoveryTargetSpec = { timestamp: String(Math.floor(at.getTime() / 1000)) };
    }
    if (!confirm(`Restore ${backup.value} into ${target.value}? Its current data is replaced.`)) return;
    act(async () => {
      await api('POST', `${e.prefix}/clusters:restore`, body);
      return `#/cluster/${e.name}/${encodeURIComponent(target.value)}`; // where its operation runs
    });
  };
  return h('form', { class: 'card row', id: 'restore', onsubmit: submit },
    h('label', {}, 'Backup', backup), h('label', {}, 'Into the declared cluster', target),
    time ? h('label', {}, 'To a point in time (optional, local time)', time) : null,
    h('button', { class: 'primary', type: 'submit', id: 'restore-submit' }, 'Restore'));
}

// ---- routing -------------------------------------------------------------------------------

// Runs `fn` every `ms` until the page changes (nothing when it changed already).
function schedule(fn, ms, page) {
  if (page !== state.page) return;
  const tick = async () => {
    try { await fn(); } catch (err) { showError(err); }
    if (state.timer === handle) handle.id = setTimeout(tick, ms);
  };
  const handle = { id: setTimeout(tick, ms) };
  state.timer = handle;
}

async function render() {
  if (state.timer) clearTimeout(state.timer.id);
  state.timer = null;
  const page = ++state.page;
  const main = document.getElementById('main');
  const signedIn = !!state.token;
  document.getElementById('signout').hidden = !signedIn;
  document.getElementById('who').textContent = signedIn ? `folder ${state.folder}` : '';
  if (!signedIn) { main.replaceChildren(signInPage()); return; }
  const m = /^#\/cluster\/(\w+)\/(.+)$/.exec(location.hash);
  try {
    const id = m ? decodeURIComponent(m[2]) : ''; // a malformed %-escape is an error shown
    document.getElementById('where').textContent = m ? `/ ${id}` : '';
    if (m) await clusterPage(main, m[1], id, page);
    else await clustersPage(main, page);
  } catch (err) {
    showError(err);
  }
}

document.getElementById('signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { showError(null); render(); });
render();
