/**
 * The supervisor page at /admin/queue: one tenant's open consultations (waiting, assigned, in progress), kept up to
 * date from the live queue (Server-Sent Events) without a reload. Operators only (admin-auth.ts: the basic-auth
 * operator account, or a token with admin and support:cross_tenant); the tenant is named in `?tenant=`, and every
 * read of a tenant's queue or stream is written to the operator access log with that tenant.
 *
 *   GET /admin/queue?tenant=<id>                the page (HTML; holds no data itself)
 *   GET /admin/queue/data?tenant=<id>           {last_event_id, consultations}: the open queue and the stream position
 *                                               it reflects
 *   GET /admin/queue/events?tenant=<id>&after=N the tenant's consultation events after N (text/event-stream)
 */
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { ConsultationService } from './service.js';
import type { Config } from '../platform/config/config.js';
import type { OperatorAccessLog } from '../platform/tenancy/request-tenant.js';
import { startPosition, streamEvents, streamsAvailable } from './stream.js';
import type { ConsultationDoc } from './types.js';
import { isTenantId } from '../platform/tenancy/tenant.js';
import { requireAdmin, type AdminAuthDeps } from '../platform/auth/admin-auth.js';

/** What the supervisor page uses of the engine. */
interface SupervisorPageDeps extends AdminAuthDeps {
  /** The engine configuration. */
  readonly config: Config;
  /** The consultation service. */
  readonly consultations: ConsultationService;
  /** Audit trail of support staff acting across tenants. */
  readonly operatorAccess: OperatorAccessLog;
  /** Set once SIGTERM arrived. */
  shuttingDown: boolean;
}

const OPEN_STATES = ['ready_for_pickup', 'pending_sp', 'in_progress'] as const;
const MAX_ROWS = 500;

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

function row(doc: ConsultationDoc): Record<string, unknown> {
  return {
    id: doc._id,
    state: doc.state,
    service_request_id: doc.service_request_id,
    organization_id: doc.organization_id,
    practitioner_id: doc.practitioner_id,
    created_at: iso(doc.created_at),
    booked_at: iso(doc.booking?.at),
    assigned_at: iso(doc.assigned_at),
    starts_at: iso(doc.starts_at),
  };
}

function tenantOf(req: Request, res: Response): string | undefined {
  const t = req.query.tenant;
  if (isTenantId(t)) return t;
  res.status(422).json({ error: { type: 'validation_failed', message: 'The query parameter tenant must name a tenant (1-128 letters, digits, ".", "_" or "-")' } });
  return undefined;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(tenant: string | undefined, nonce: string): string {
  const body = tenant
    ? `<h1>Consultation queue <small>${escapeHtml(tenant)}</small></h1>
<p id="status" role="status">loading…</p>
<table>
<thead><tr><th>Created</th><th>State</th><th>Consultation</th><th>Referral</th><th>Organization</th><th>Practitioner</th><th>Assigned</th><th>Started</th></tr></thead>
<tbody id="queue"></tbody>
</table>`
    : `<h1>Consultation queue</h1>
<form method="get" action="/admin/queue"><label>Tenant (legal entity id) <input name="tenant" required pattern="[A-Za-z0-9._\\-]{1,128}"></label> <button>Show</button></form>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Consultation queue</title>
<style nonce="${nonce}">
body { font: 14px system-ui, sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
td.state { font-weight: 600; }
small { color: #666; font-weight: normal; }
</style>
</head>
<body data-tenant="${tenant ? escapeHtml(tenant) : ''}">
${body}
${tenant ? `<script nonce="${nonce}">${SCRIPT}</script>` : ''}
</body>
</html>`;
}

/** The page's script: loads the queue, then applies each event (an open consultation is shown, a closed one removed). */
const SCRIPT = `
'use strict';
const tenant = document.body.dataset.tenant;
const OPEN = ${JSON.stringify(OPEN_STATES)};
const rows = new Map();
const statusEl = document.getElementById('status');
const tbody = document.getElementById('queue');
const time = (v) => (v ? new Date(v).toLocaleString() : '');
function render() {
  const list = [...rows.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  tbody.replaceChildren(...list.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.id = c.id;
    tr.dataset.state = c.state;
    for (const [cls, text] of [['created', time(c.created_at)], ['state', c.state], ['id', c.id], ['referral', c.service_request_id], ['organization', c.organization_id || ''], ['practitioner', c.practitioner_id || ''], ['assigned', time(c.assigned_at)], ['started', time(c.starts_at)]]) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}
async function start() {
  const q = 'tenant=' + encodeURIComponent(tenant);
  const res = await fetch('/admin/queue/data?' + q, { credentials: 'same-origin' });
  if (!res.ok) { statusEl.textContent = 'cannot load the queue (' + res.status + ')'; return; }
  const data = await res.json();
  for (const c of data.consultations) rows.set(c.id, c);
  render();
  statusEl.textContent = rows.size + ' open';
  const events = new EventSource('/admin/queue/events?' + q + '&after=' + data.last_event_id);
  events.addEventListener('consultation', (m) => {
    const ev = JSON.parse(m.data);
    const c = ev.consultation;
    if (OPEN.includes(c.state)) rows.set(c.id, c); else rows.delete(c.id);
    render();
    statusEl.textContent = rows.size + ' open · live · last change ' + time(ev.at);
  });
  events.onopen = () => { statusEl.dataset.live = 'true'; };
  events.onerror = () => { statusEl.dataset.live = 'false'; statusEl.textContent = rows.size + ' open · reconnecting…'; };
}
start();
`;

export function supervisorPageRouter(ctx: SupervisorPageDeps): Router {
  const router = Router();
  const admin = requireAdmin(ctx);
  const service = ctx.consultations;

  router.get('/admin/queue', admin, (req, res) => {
    const tenant = isTenantId(req.query.tenant) ? req.query.tenant : undefined;
    const nonce = randomBytes(16).toString('base64');
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    );
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(page(tenant, nonce));
  });

  router.get('/admin/queue/data', admin, async (req, res) => {
    const tenant = tenantOf(req, res);
    if (!tenant) return;
    await ctx.operatorAccess.record(req, tenant);
    // The position first: events after it may already be in the list, and applying them again changes nothing.
    const lastEventId = await service.events.latest(tenant);
    const { docs } = await service.list({ tenant, states: [...OPEN_STATES], limit: MAX_ROWS, offset: 0 });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ last_event_id: lastEventId, consultations: docs.map(row) });
  });

  router.get('/admin/queue/events', admin, async (req, res) => {
    const tenant = tenantOf(req, res);
    if (!tenant) return;
    if (!streamsAvailable()) {
      res.status(503).json({ error: { type: 'service_unavailable', message: 'Too many open event streams on this engine; retry later' } });
      return;
    }
    const pos = await startPosition(req, service.events, tenant);
    if ('invalid' in pos) {
      res.status(422).json({ error: { type: 'validation_failed', message: `Last-Event-ID (or after) ${pos.invalid}` } });
      return;
    }
    await ctx.operatorAccess.record(req, tenant);
    const { streamHeartbeatMs, streamPollMs } = ctx.config.consultations;
    await streamEvents(req, res, service.events, tenant, pos.after, { heartbeatMs: streamHeartbeatMs, pollMs: streamPollMs, stopping: () => ctx.shuttingDown });
  });

  return router;
}
