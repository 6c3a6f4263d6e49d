/**
 * Who owns an inbound message, and what a colliding MsgId can no longer do: suppress another sender's referral, or
 * fetch another tenant's stored AppRec. Support staff reach another tenant's messages only through the audited scope.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { engine, OTHER_TENANT, TEST_TENANT } from '../support/harness.js';
import { OTHER_RECEIVER_HER_ID } from '../support/tenants.js';
import { postXml, readAppRec, variant } from '../ingest/support.js';

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';

async function post(body: string, tenant: string) {
  const res = await postXml(engine(), body, { token: await engine().token('messages:write', { clientId: tenant }) });
  const text = await res.text();
  return { status: res.status, duplicate: res.headers.get('x-duplicate') === 'true', messageId: res.headers.get('x-message-id'), text };
}

describe('tenancy: who owns an inbound message', function () {
  this.timeout(60_000);

  it('a garbage message sent first with a MsgId does not take that MsgId from the real sender', async () => {
    const msgId = randomUUID();
    const garbage = `<?xml version="1.0"?><MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId>${msgId}</MsgId></MsgInfo></MsgHead>`;
    const first = await post(garbage, TEST_TENANT);
    expect(first.status).to.equal(200);
    expect(readAppRec(first.text).status).to.equal('2');
    const real = await post(variant(NY, [], msgId), TEST_TENANT);
    expect(real.status).to.equal(200);
    expect(real.duplicate).to.equal(false);
    expect(real.messageId).not.to.equal(first.messageId);
    expect(readAppRec(real.text).status).to.equal('1');
  });

  it("a resend of another tenant's MsgId gets neither its stored AppRec nor its message", async () => {
    const msgId = randomUUID();
    const mine = await post(variant(NY, [], msgId), TEST_TENANT);
    expect(readAppRec(mine.text).status).to.equal('1');
    // The same bytes posted by another legal entity: its own message, rejected (the receiver is not its own).
    const theirs = await post(variant(NY, [], msgId), OTHER_TENANT);
    expect(theirs.status).to.equal(200);
    expect(theirs.duplicate).to.equal(false);
    expect(theirs.messageId).not.to.equal(mine.messageId);
    const rec = readAppRec(theirs.text);
    expect(rec.status).to.equal('2');
    expect(rec.errors.map((e) => e.V)).to.deep.equal(['E21']);
    expect(theirs.text).not.to.equal(mine.text);
    // The same MsgId from the same sender to the tenant that owns it is the duplicate it always was.
    const again = await post(variant(NY, [], msgId), TEST_TENANT);
    expect(again.duplicate).to.equal(true);
    expect(again.text).to.equal(mine.text);
  });

  it('a receiver registered by another tenant gets E21 in the posting tenant, stored there', async () => {
    const res = await post(
      variant(NY, [
        ['<Id>59</Id>', `<Id>${OTHER_RECEIVER_HER_ID}</Id>`],
        ['<Id>90998</Id>', `<Id>${OTHER_RECEIVER_HER_ID}</Id>`],
      ]),
      TEST_TENANT,
    );
    const rec = readAppRec(res.text);
    expect(rec.errors.map((e) => e.V)).to.include('E21');
    const token = await engine().token('messages:read', { clientId: TEST_TENANT });
    const view = await fetch(`${engine().url}/api/messages/${res.messageId}`, { headers: { authorization: `Bearer ${token}` } });
    expect(view.status).to.equal(200);
    expect(((await view.json()) as { data: { status: string } }).data.status).to.equal('rejected');
    const other = await engine().token('messages:read', { clientId: OTHER_TENANT });
    expect((await fetch(`${engine().url}/api/messages/${res.messageId}`, { headers: { authorization: `Bearer ${other}` } })).status).to.equal(404);
  });

  it("support staff replay another tenant's message only with support:cross_tenant and X-Target-Tenant, audited", async () => {
    const mine = await post(variant(NY), TEST_TENANT);
    const replay = async (scope: string, target?: string) =>
      fetch(`${engine().url}/api/messages/${mine.messageId}/replay`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await engine().token(scope, { clientId: 'support-desk', sub: 'support-7' })}`,
          ...(target ? { 'x-target-tenant': target } : {}),
        },
      });
    expect((await replay('messages:replay')).status).to.equal(404);
    expect((await replay('messages:replay', TEST_TENANT)).status).to.equal(403);
    const ok = await replay('messages:replay support:cross_tenant', TEST_TENANT);
    expect(ok.status).to.equal(200);
    const audit = await engine().ctx.database.db.collection('operator_access').find({ user_id: 'support-7' }).toArray();
    expect(audit.map((a) => [a.acting_tenant, a.target_tenant, a.route])).to.deep.equal([['support-desk', TEST_TENANT, '/api/messages/:id/replay']]);
  });
});
