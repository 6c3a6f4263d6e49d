/**
 * Insurer deals, orders and lines through HTTP and the real database: a deal loaded through the registries API prices
 * every consultation of its insurer; cancelling before start credits the line; a rebooking gets its own line and its
 * Encounter is partOf the earlier one; the FHIR form and the insurer report (XLSX) show the same totals as the
 * orders API; another legal entity sees none of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import ExcelJS from 'exceljs';
import type { Account, ChargeItem, Coverage, Encounter, Invoice } from '@medplum/fhirtypes';
import { runCli } from '../support/cli.js';
import { engine, OTHER_TENANT, TEST_TENANT, tmpDir, type TestEngine } from '../support/harness.js';
import { api, createConsultation, makeReferral, ok, RESULT, tokens, uniqueOrg, type Tokens } from '../consultations/support.js';

interface Fixture {
  eng: TestEngine;
  t: Tokens;
  billing: string;
  fhirRead: string;
  admin: string;
}

/** Unit price 449.99 NOK; 12.5 % off a consultation (56.24875 → 56.25, half up), 50 % off a follow-up (224.995 → 225.00). */
function deal(id: string, insurer: string, extra: Record<string, unknown> = {}) {
  return {
    tenant: TEST_TENANT,
    insurer_organization_id: insurer,
    insurer_name: 'IF Skadeforsikring',
    name: `IF Digimed ${id}`,
    service: { code: 'digimed-consultation', display: 'Digital consultation' },
    unit_price: '449.99',
    currency: 'NOK',
    discount_rules: [
      { applies_to: 'consultation', percent: '12.5' },
      { applies_to: 'follow_up', percent: '50' },
    ],
    follow_up_covered: true,
    policy_number: 'IF-GRP-77120',
    valid_from: '2020-01-01',
    ...extra,
  };
}

async function loadDeal(f: Fixture, id: string, body: Record<string, unknown>): Promise<void> {
  const res = await api(f.eng, 'PUT', `/api/registries/deals/${id}`, f.admin, body);
  expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
}

async function orderOf(f: Fixture, consultationId: string, token = f.billing): Promise<any> {
  const list = await ok(api(f.eng, 'GET', `/api/billing/orders?consultation_id=${consultationId}`, token));
  expect(list, `orders of consultation ${consultationId}`).to.have.length(1);
  return list[0];
}

async function fhir<T>(f: Fixture, path: string, token = f.fhirRead): Promise<{ status: number; body: T }> {
  const res = await fetch(`${f.eng.url}/fhir/${path}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' } });
  return { status: res.status, body: (await res.json()) as T };
}

/** The order's Invoice once the invoice writer (every second) has caught up with the order's net total. */
async function invoiceOf(f: Fixture, order: { id: string; totals: { net: string } }): Promise<Invoice> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const inv = await fhir<Invoice>(f, `Invoice/${order.id}`);
    if (inv.status === 200 && inv.body.totalNet?.value === Number(order.totals.net)) return inv.body;
    if (Date.now() > deadline) throw new Error(`Invoice/${order.id}: ${inv.status} ${JSON.stringify(inv.body.totalNet)}, expected ${order.totals.net}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function walk(f: Fixture, id: string, practitioner: string, steps: string[]): Promise<any> {
  const pt = await f.t.practitioner(practitioner);
  let last: any;
  for (const step of steps) last = await ok(api(f.eng, 'POST', `/api/consultations/${id}/${step}`, pt, step === 'finish' ? RESULT : undefined));
  return last;
}

const linesOf = (order: any, kind?: string) => (order.lines as any[]).filter((l) => !kind || l.kind === kind);

describe('billing: insurer deals, orders and lines', function () {
  this.timeout(60_000);
  let f: Fixture;

  before(async () => {
    const eng = engine();
    f = {
      eng,
      t: await tokens(eng),
      billing: await eng.token('billing:read'),
      fhirRead: await eng.token('system/*.read'),
      admin: await eng.token('registries:read registries:write', { sub: 'admin-1', clientId: null }),
    };
  });

  it('refuses an invalid deal with 422 naming each bad field, and writes nothing', async () => {
    const res = await api(f.eng, 'PUT', '/api/registries/deals/deal-bad', f.admin, {
      ...deal('deal-bad', 'org-x'),
      unit_price: '12.345',
      currency: 'XXX',
      discount_rules: [{ applies_to: 'consultation', percent: '101' }],
    });
    expect(res.status).to.equal(422);
    const entries = (res.body.error.invalid as { entry: string }[]).map((i) => i.entry);
    expect(entries).to.include.members(['$.unit_price', '$.currency']);
    expect(entries.some((e) => e.startsWith('$.discount_rules[0]'))).to.equal(true);
    expect((await api(f.eng, 'GET', '/api/registries/deals/deal-bad', f.admin)).status).to.equal(404);
  });

  it('creates one order line per consultation, with the discount rounded half up, and totals equal to the lines', async () => {
    const insurer = uniqueOrg('if');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const { serviceRequestId } = await makeReferral(f.eng, insurer);
    const c = await createConsultation(f.eng, f.t.supervisor, serviceRequestId);
    // The same create again (idempotent) and concurrent ones add no line.
    const again = await Promise.all([1, 2, 3].map(() => api(f.eng, 'POST', '/api/consultations', f.t.supervisor, { service_request_id: serviceRequestId })));
    expect(again.map((r) => r.status)).to.deep.equal([200, 200, 200]);

    const order = await orderOf(f, c.id);
    expect(order).to.include({ insurer_organization_id: insurer, currency: 'NOK', period: new Date().toISOString().slice(0, 7) });
    expect(order.lines).to.have.length(1);
    expect(order.lines[0]).to.include({ kind: 'consultation', consultation_id: c.id, deal_id: `deal-${insurer}`, unit_price: '449.99' });
    expect(order.lines[0]).to.include({ gross: '449.99', discount: '56.25', net: '393.74', net_minor: 39374 });
    expect(order.totals).to.include({ gross: '449.99', discount: '56.25', net: '393.74' });

    // A second consultation of the same insurer and month: the same order, totals the sum of both lines.
    const second = await makeReferral(f.eng, insurer);
    const c2 = await createConsultation(f.eng, f.t.supervisor, second.serviceRequestId);
    const both = await ok(api(f.eng, 'GET', `/api/billing/orders/${order.id}`, f.billing));
    expect(linesOf(both).map((l) => l.consultation_id)).to.have.members([c.id, c2.id]);
    expect(both.totals).to.include({ gross: '899.98', discount: '112.50', net: '787.48' });

    // The FHIR form: ChargeItem (net price, discount named), Invoice (components and totals), Account, Coverage.
    const ci = await fhir<ChargeItem>(f, `ChargeItem/${order.lines[0].id}`);
    expect(ci.status).to.equal(200);
    expect(ci.body).to.deep.include({ status: 'billable', priceOverride: { value: 393.74, currency: 'NOK' }, context: { reference: `Encounter/${c.encounter_id}` } });
    expect(ci.body.overrideReason).to.contain('12.5 %');
    const inv = await invoiceOf(f, both);
    expect(inv.recipient).to.deep.equal({ reference: `Organization/${insurer}` });
    expect(inv.totalNet).to.deep.equal({ value: 787.48, currency: 'NOK' });
    expect(inv.totalPriceComponent).to.deep.equal([
      { type: 'base', amount: { value: 899.98, currency: 'NOK' } },
      { type: 'discount', amount: { value: -112.5, currency: 'NOK' } },
    ]);
    expect(inv.lineItem).to.have.length(2);
    expect(inv.lineItem![0].priceComponent).to.deep.equal([
      { type: 'base', amount: { value: 449.99, currency: 'NOK' } },
      { type: 'discount', amount: { value: -56.25, currency: 'NOK' } },
    ]);
    const account = await fhir<Account>(f, ci.body.account![0].reference!);
    expect(account.body.identifier).to.deep.equal([{ system: 'urn:hl7-engine:deal', value: `deal-${insurer}` }]);
    expect(account.body.guarantor).to.deep.equal([{ party: { reference: `Organization/${insurer}` } }]);
    const coverage = await fhir<Coverage>(f, ci.body.supportingInformation![0].reference!);
    expect(coverage.body).to.deep.include({ beneficiary: { reference: `Patient/${c.patient_id}` }, payor: [{ reference: `Organization/${insurer}` }] });
    expect(coverage.body.identifier).to.deep.equal([{ system: 'urn:hl7-engine:insurance-policy', value: 'IF-GRP-77120' }]);
    expect((await fhir(f, `Organization/${insurer}`)).status).to.equal(200);
  });

  it('credits the line of a consultation cancelled before it started, not of one cancelled after', async () => {
    const insurer = uniqueOrg('if-cancel');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const early = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    const late = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await walk(f, late.id, 'dr-bill-late', ['pick', 'start']);
    await ok(api(f.eng, 'POST', `/api/consultations/${early.id}/cancel`, f.t.supervisor, { reason: 'patient recovered' }));
    await ok(api(f.eng, 'POST', `/api/consultations/${late.id}/cancel`, f.t.supervisor, { reason: 'call dropped' }));

    const order = await orderOf(f, early.id);
    const credits = linesOf(order, 'credit');
    expect(credits).to.have.length(1);
    expect(credits[0]).to.include({ consultation_id: early.id, credits: `li-${early.id}`, net: '-393.74', gross: '-449.99', discount: '-56.25' });
    expect(credits[0].reason).to.contain('patient recovered');
    expect(order.totals).to.include({ gross: '449.99', discount: '56.25', net: '393.74' });

    const cancelled = await fhir<ChargeItem>(f, `ChargeItem/li-${early.id}`);
    expect(cancelled.body.status).to.equal('not-billable');
    expect((await fhir<ChargeItem>(f, `ChargeItem/li-${late.id}`)).body.status).to.equal('billable');
    const inv = await invoiceOf(f, order);
    expect(inv.lineItem!.map((l) => l.chargeItemReference)).to.deep.equal([{ reference: `ChargeItem/li-${late.id}` }]);
    expect(inv.totalNet).to.deep.equal({ value: 393.74, currency: 'NOK' });
  });

  it('concurrent consultations of one insurer: one line each, and the Invoice catches up with all of them', async () => {
    const insurer = uniqueOrg('if-burst');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const referrals = await Promise.all(Array.from({ length: 6 }, () => makeReferral(f.eng, insurer)));
    const created = await Promise.all(referrals.map((r) => createConsultation(f.eng, f.t.supervisor, r.serviceRequestId)));
    const order = await orderOf(f, created[0].id);
    expect(linesOf(order).map((l) => l.consultation_id)).to.have.members(created.map((c) => c.id));
    expect(order.totals).to.include({ net: '2362.44', net_minor: 6 * 39374 });
    const inv = await invoiceOf(f, order);
    expect(inv.lineItem!.map((l) => l.chargeItemReference!.reference).sort()).to.deep.equal(created.map((c) => `ChargeItem/li-${c.id}`).sort());
  });

  it('the start-up repair adds a line and a credit a failed write left out', async () => {
    const insurer = uniqueOrg('if-repair');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const kept = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    const c = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await ok(api(f.eng, 'POST', `/api/consultations/${c.id}/cancel`, f.t.supervisor, { reason: 'no answer' }));
    const order = await orderOf(f, c.id);
    expect(order.totals.net).to.equal('393.74');
    // As if the engine stopped before it wrote them: the first line and the credit are gone.
    await f.eng.ctx.billing.lines.deleteMany({ _id: { $in: [`li-${kept.id}`, `cr-${c.id}`] } });
    expect((await ok(api(f.eng, 'GET', `/api/billing/orders/${order.id}`, f.billing))).totals.net).to.equal('393.74');
    await f.eng.ctx.consultations.repair();
    const repaired = await ok(api(f.eng, 'GET', `/api/billing/orders/${order.id}`, f.billing));
    expect(repaired.lines.map((l: any) => l.id)).to.have.members([`li-${c.id}`, `cr-${c.id}`, `li-${kept.id}`]);
    expect(repaired.totals).to.include({ gross: '449.99', discount: '56.25', net: '393.74' });
    expect((await fhir<ChargeItem>(f, `ChargeItem/li-${kept.id}`)).body.status).to.equal('billable');
  });

  it('books a follow-up (rebooking): its own line at the follow-up discount, its Encounter partOf the earlier one', async () => {
    const insurer = uniqueOrg('if-rebook');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const first = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    // Only in progress or completed, only by its practitioner (or a supervisor).
    const early = await api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, await f.t.practitioner('dr-rebook'));
    expect(early.status).to.equal(409);
    expect(early.body.error.message).to.contain('ready_for_pickup');
    await walk(f, first.id, 'dr-rebook', ['pick']);
    const notYet = await api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, await f.t.practitioner('dr-rebook'));
    expect(notYet.status).to.equal(409);
    expect(notYet.body.error.message).to.contain('pending_sp');
    await walk(f, first.id, 'dr-rebook', ['start', 'finish']);
    const other = await api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, await f.t.practitioner('dr-someone-else'));
    expect(other.status).to.equal(403);

    const res = await api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, await f.t.practitioner('dr-rebook'));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const follow = res.body.data;
    expect(follow).to.include({ state: 'ready_for_pickup', follow_up_of: first.id, patient_id: first.patient_id, service_request_id: first.service_request_id });
    expect(follow.encounter_id).not.to.equal(first.encounter_id);
    const again = await api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, f.t.supervisor);
    expect(again.status).to.equal(200);
    expect(again.body.data.id).to.equal(follow.id);

    const enc = await fhir<Encounter>(f, `Encounter/${follow.encounter_id}`);
    expect(enc.status).to.equal(200);
    expect(enc.body.partOf).to.deep.equal({ reference: `Encounter/${first.encounter_id}` });
    expect(enc.body.basedOn).to.deep.equal([{ reference: `ServiceRequest/${first.service_request_id}` }]);
    expect((await fhir<Encounter>(f, `Encounter/${first.encounter_id}`)).body.status).to.equal('finished');

    const order = await orderOf(f, follow.id);
    expect(linesOf(order, 'follow_up')).to.have.length(1);
    expect(linesOf(order, 'follow_up')[0]).to.include({ consultation_id: follow.id, follow_up_of: first.id, discount: '225.00', net: '224.99' });
    expect(order.totals).to.include({ gross: '899.98', discount: '281.25', net: '618.73' });
    expect((await invoiceOf(f, order)).lineItem).to.have.length(2);
  });

  it('prices no follow-up when the deal does not cover it, and nothing for an insurer without a valid deal', async () => {
    const insurer = uniqueOrg('if-nofollow');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer, { follow_up_covered: false }));
    const first = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await walk(f, first.id, 'dr-nofollow', ['pick', 'start', 'finish']);
    const follow = await ok(api(f.eng, 'POST', `/api/consultations/${first.id}/rebook`, await f.t.practitioner('dr-nofollow')), 201);
    expect(await ok(api(f.eng, 'GET', `/api/billing/orders?consultation_id=${follow.id}`, f.billing))).to.deep.equal([]);
    expect(linesOf(await orderOf(f, first.id))).to.have.length(1);

    // A deal changed after a line was priced: the line keeps its terms; ended before the follow-up: no follow-up line.
    const ending = uniqueOrg('if-ending');
    await loadDeal(f, `deal-${ending}`, deal(`deal-${ending}`, ending));
    const priced = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, ending)).serviceRequestId);
    await walk(f, priced.id, 'dr-ending', ['pick', 'start', 'finish']);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await loadDeal(f, `deal-${ending}`, deal(`deal-${ending}`, ending, { unit_price: '1000', valid_to: yesterday }));
    const late = await ok(api(f.eng, 'POST', `/api/consultations/${priced.id}/rebook`, await f.t.practitioner('dr-ending')), 201);
    expect(await ok(api(f.eng, 'GET', `/api/billing/orders?consultation_id=${late.id}`, f.billing))).to.deep.equal([]);
    expect((await orderOf(f, priced.id)).lines[0]).to.include({ unit_price: '449.99', net: '393.74' });

    // A deal that ended before today, and a deal of another tenant for the same insurer: neither prices.
    const expired = uniqueOrg('if-expired');
    await loadDeal(f, `deal-${expired}`, deal(`deal-${expired}`, expired, { valid_from: '2020-01-01', valid_to: '2020-12-31' }));
    await loadDeal(f, `deal-${expired}-b`, deal(`deal-${expired}-b`, expired, { tenant: OTHER_TENANT }));
    const c = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, expired)).serviceRequestId);
    expect(await ok(api(f.eng, 'GET', `/api/billing/orders?consultation_id=${c.id}`, f.billing))).to.deep.equal([]);
  });

  it('loads deals with the CLI (`registries load deals.json`): validated, then priced into the next consultation', async function () {
    this.timeout(120_000);
    const insurer = uniqueOrg('if-cli');
    const dir = fs.mkdtempSync(path.join(tmpDir(), 'deals-'));
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ deals: [{ id: `deal-${insurer}`, ...deal(`deal-${insurer}`, insurer), currency: 'NOKK' }] }));
    const refused = await runCli(f.eng, ['registries', 'load', bad], { LOG_LEVEL: 'silent' });
    expect(refused.code).not.to.equal(0);
    expect(refused.stderr).to.contain('bad.json:$.deals[0].currency');
    const file = path.join(dir, 'deals.json');
    fs.writeFileSync(file, JSON.stringify([{ id: `deal-${insurer}`, ...deal(`deal-${insurer}`, insurer, { unit_price: '300', discount_rules: [] }) }]));
    const loaded = await runCli(f.eng, ['registries', 'load', file], { LOG_LEVEL: 'silent' });
    expect(loaded.code, loaded.stderr).to.equal(0);
    expect(loaded.stdout).to.contain('deals: 1 inserted, 0 updated, 0 unchanged');
    const c = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    expect((await orderOf(f, c.id)).lines[0]).to.include({ deal_id: `deal-${insurer}`, gross: '300.00', discount: '0.00', net: '300.00' });
  });

  it('the newest valid deal prices a consultation (a new price is a new deal from a later date)', async () => {
    const insurer = uniqueOrg('if-newer');
    await loadDeal(f, `deal-${insurer}-old`, deal(`deal-${insurer}-old`, insurer, { valid_from: '2021-01-01' }));
    await loadDeal(f, `deal-${insurer}-new`, deal(`deal-${insurer}-new`, insurer, { valid_from: '2024-01-01', unit_price: '500', discount_rules: [{ applies_to: 'any', amount: '20.5' }] }));
    const c = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    const order = await orderOf(f, c.id);
    expect(order.lines[0]).to.include({ deal_id: `deal-${insurer}-new`, gross: '500.00', discount: '20.50', net: '479.50' });
  });

  it('shows the orders in the insurer report: per line and per order, totals equal to the order totals', async () => {
    const insurer = uniqueOrg('if-report');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const a = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await walk(f, a.id, 'dr-bill-report', ['pick', 'start', 'finish']);
    const b = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await ok(api(f.eng, 'POST', `/api/consultations/${b.id}/cancel`, f.t.supervisor, { reason: 'duplicate' }));
    await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    const order = await orderOf(f, a.id);

    const today = new Date().toISOString().slice(0, 10);
    const report = await ok(api(f.eng, 'POST', '/api/consultations/reports', f.t.resultReader, { from: today, to: today, organization_id: insurer }), 202);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await ok(api(f.eng, 'GET', `/api/consultations/reports/${report.id}`, f.t.resultReader));
      if (r.status === 'ready') break;
      expect(r.status).not.to.equal('failed');
      if (Date.now() > deadline) throw new Error('report not ready');
      await new Promise((res) => setTimeout(res, 200));
    }
    const res = await fetch(`${f.eng.url}/api/consultations/reports/${report.id}/download`, { headers: { Authorization: `Bearer ${f.t.resultReader}` } });
    expect(res.status).to.equal(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(Buffer.from(await res.arrayBuffer()) as unknown as ArrayBuffer);
    const ws = wb.getWorksheet('Orders')!;
    const headers = (ws.getRow(1).values as unknown[]).slice(1) as string[];
    const rows: Record<string, any>[] = [];
    ws.eachRow((row, n) => {
      if (n > 1) rows.push(Object.fromEntries(headers.map((h, i) => [h, (row.values as unknown[]).slice(1)[i]])));
    });
    const lineRows = rows.filter((r) => r['Order id'] === order.id && r.Line !== 'Order total');
    expect(lineRows.map((r) => r.Line)).to.deep.equal(order.lines.map((l: any) => l.id));
    expect(lineRows.map((r) => [r.Kind, r.Gross, r.Discount, r.Net])).to.deep.equal(order.lines.map((l: any) => [l.kind, Number(l.gross), Number(l.discount), Number(l.net)]));
    const total = rows.filter((r) => r['Order id'] === order.id && r.Line === 'Order total');
    expect(total).to.have.length(1);
    expect([total[0].Gross, total[0].Discount, total[0].Net]).to.deep.equal([Number(order.totals.gross), Number(order.totals.discount), Number(order.totals.net)]);
    expect(order.totals).to.include({ gross: '899.98', discount: '112.50', net: '787.48' });
    // The sheet's total is the sum of its line rows (in minor units: no float drift).
    expect(lineRows.reduce((s, r) => s + Math.round(r.Net * 100), 0)).to.equal(order.totals.net_minor);
  });

  it("another legal entity gets 404 for the orders, their FHIR form and rebooking of the tenant's consultations", async () => {
    const insurer = uniqueOrg('if-tenant');
    await loadDeal(f, `deal-${insurer}`, deal(`deal-${insurer}`, insurer));
    const c = await createConsultation(f.eng, f.t.supervisor, (await makeReferral(f.eng, insurer)).serviceRequestId);
    await walk(f, c.id, 'dr-tenant', ['pick', 'start']);
    const order = await orderOf(f, c.id);

    const otherBilling = await f.eng.token('billing:read', { clientId: OTHER_TENANT });
    expect((await api(f.eng, 'GET', `/api/billing/orders/${order.id}`, otherBilling)).status).to.equal(404);
    expect(await ok(api(f.eng, 'GET', `/api/billing/orders?consultation_id=${c.id}`, otherBilling))).to.deep.equal([]);
    const otherFhir = await f.eng.token('system/*.read', { clientId: OTHER_TENANT });
    expect((await fhir(f, `Invoice/${order.id}`, otherFhir)).status).to.equal(404);
    expect((await fhir(f, `ChargeItem/${order.lines[0].id}`, otherFhir)).status).to.equal(404);
    const otherSupervisor = await f.eng.token('consultations:read consultations:write consultations:supervise', { clientId: OTHER_TENANT });
    expect((await api(f.eng, 'POST', `/api/consultations/${c.id}/rebook`, otherSupervisor)).status).to.equal(404);
    // Without the scope: 403; bad query: 422.
    expect((await api(f.eng, 'GET', `/api/billing/orders/${order.id}`, f.t.reader)).status).to.equal(403);
    expect((await api(f.eng, 'GET', '/api/billing/orders?period=2026-13', f.billing)).status).to.equal(422);
  });
});
