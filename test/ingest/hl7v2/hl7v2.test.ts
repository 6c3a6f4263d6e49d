import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../../../src/platform/config/config.js';
import { listExamples, normaliseForGolden } from '../../../src/mapping/examples.js';
import { parseTenants } from '../../../src/platform/tenancy/directory.js';
import { startTestEngine, tmpDir, TEST_TENANT, OTHER_TENANT, type TestEngine } from '../../support/harness.js';
import { EXAMPLES, example, MllpClient, mllpExchange, parseAck, variant, type Ack } from './support.js';

const HL7 = 'x-application/hl7-v2+er7';

interface MessageView {
  id: string;
  source: string;
  status: string;
  external_id?: string;
  message_type?: string;
  fhir?: { reference: string; action: string }[];
  receipt?: { kind: string; status: string; body?: string };
  error?: { code: string; message: string };
}

describe('HL7 v2 over MLLP and HTTP', function () {
  this.timeout(120_000);
  let e: TestEngine;
  let port: number;

  before(async () => {
    e = await startTestEngine({ env: { HL7V2_MLLP_PORT: '0', HL7V2_MLLP_MAX_FRAME_BYTES: '4kb' } });
    port = e.mllpPort!;
  });
  after(async () => {
    await e?.stop();
  });

  async function get<T>(path: string, scope: string, tenant = TEST_TENANT): Promise<{ status: number; body: T }> {
    const res = await fetch(`${e.url}${path}`, { headers: { authorization: `Bearer ${await e.token(scope, { clientId: tenant })}` } });
    return { status: res.status, body: (await res.json()) as T };
  }

  async function messageByControlId(controlId: string, tenant = TEST_TENANT): Promise<MessageView[]> {
    const r = await get<{ data: MessageView[] }>(`/api/messages?source=hl7v2&external_id=${encodeURIComponent(controlId)}&include_raw=true`, 'messages:read messages:read_raw', tenant);
    expect(r.status).to.equal(200);
    return r.body.data;
  }

  async function resources(m: MessageView, tenant = TEST_TENANT): Promise<Resource[]> {
    const out: Resource[] = [];
    for (const f of m.fhir ?? []) {
      const r = await get<Resource>(`/fhir/${f.reference}`, 'system/*.read', tenant);
      expect(r.status, f.reference).to.equal(200);
      out.push(r.body);
    }
    return out;
  }

  async function postHttp(body: Buffer | string, tenant = TEST_TENANT, scope = 'messages:write'): Promise<{ status: number; ack: Ack; headers: Headers }> {
    const res = await fetch(`${e.url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await e.token(scope, { clientId: tenant })}`, 'content-type': HL7 },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString(/8859-1/.test(res.headers.get('content-type') ?? '') ? 'latin1' : 'utf8');
    return { status: res.status, ack: parseAck(text), headers: res.headers };
  }

  it('over HTTP: AA with the ACK as body, message id and the same FHIR as the golden file', async () => {
    const r = await postHttp(variant('orm-o01.hl7', 'HTTP-O01-1'));
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/^x-application\/hl7-v2\+er7/);
    expect(r.ack.code, r.ack.text).to.equal('AA');
    expect(r.ack.controlId).to.equal('HTTP-O01-1');
    const [m] = await messageByControlId('HTTP-O01-1');
    expect(m.id).to.equal(r.headers.get('x-message-id'));
    const golden = JSON.parse(fs.readFileSync(`${EXAMPLES}/orm-o01.fhir.json`, 'utf8')) as unknown[];
    expect(normaliseForGolden(await resources(m))).to.deep.equal(golden);
  });

  it('reads MSH-18 8859/1 and answers in it; escapes, repetitions, subcomponents resolved; Z-segments ignored', async () => {
    const c = await MllpClient.connect(port);
    try {
      c.send(variant('adt-a01.hl7', 'LATIN1-1', [['Storgata 1^', 'Storgata 1\\F\\A^']]));
      const ack = parseAck(await c.next(60_000, 'latin1'));
      expect(ack.code, ack.text).to.equal('AA');
    } finally {
      c.close();
    }
    const [m] = await messageByControlId('LATIN1-1');
    const patient = (await resources(m)).find((r) => r.resourceType === 'Patient') as { name: { family: string }[]; address: { line: string[] }[]; identifier: { system: string; value: string }[] };
    expect(patient.name[0].family).to.equal('Ødegård');
    expect(patient.address[0].line).to.deep.equal(['Storgata 1|A', 'c/o Berg & Co']);
    expect(patient.identifier).to.deep.include({ system: 'urn:oid:2.16.578.1.12.4.1.2.12345', value: 'A123456' });
  });

  describe('refusals: AR for the envelope, AE for the content, ERR naming the problem', () => {
    it('no MSH segment: AR over MLLP (nothing stored: no tenant) and over HTTP (stored as rejected)', async () => {
      const ack = await mllpExchange(port, 'PID|1||23049210078^^^NOR^FNR\r');
      expect(ack.code).to.equal('AR');
      expect(ack.errors[0].code).to.equal('100');
      expect(ack.errors[0].text).to.include('MSH');
      const before = (await get<{ paging: { total_entries: number } }>('/api/messages?source=hl7v2&status=rejected&page_size=1', 'messages:read')).body.paging.total_entries;
      const r = await postHttp('PID|1||23049210078^^^NOR^FNR\r');
      expect(r.status).to.equal(200);
      expect(r.ack.code).to.equal('AR');
      const after = (await get<{ paging: { total_entries: number } }>('/api/messages?source=hl7v2&status=rejected&page_size=1', 'messages:read')).body.paging.total_entries;
      expect(after).to.equal(before + 1);
      const m = await get<{ data: MessageView }>(`/api/messages/${r.headers.get('x-message-id')}`, 'messages:read');
      expect(m.body.data.status).to.equal('rejected');
      expect(m.body.data.error?.message).to.include('MSH');
    });

    it('missing control id (MSH-10): AR with ERR at MSH-10, stored with its reason', async () => {
      const r = await postHttp(variant('adt-a04.hl7', ''));
      expect(r.ack.code).to.equal('AR');
      expect(r.ack.errors[0]).to.include({ location: 'MSH^1^10', code: '101' });
      const m = await get<{ data: MessageView }>(`/api/messages/${r.headers.get('x-message-id')}`, 'messages:read');
      expect(m.body.data.status).to.equal('rejected');
      expect(m.body.data.error?.code).to.equal('AR-101');
    });

    it('unknown receiving facility: AR over MLLP (not stored), AR over HTTP for a facility the token tenant has not registered', async () => {
      const ack = await mllpExchange(port, variant('adt-a04.hl7', 'NOFAC-1', [['|HOSP-A|', '|NOWHERE|']]));
      expect(ack.code).to.equal('AR');
      expect(ack.errors[0]).to.include({ location: 'MSH^1^6', code: '103' });
      expect(await messageByControlId('NOFAC-1')).to.have.length(0);
      // HOSP-B belongs to the other tenant: TEST_TENANT's token cannot post for it.
      const r = await postHttp(variant('adt-a04.hl7', 'NOFAC-2', [['|HOSP-A|', '|HOSP-B|']]));
      expect(r.ack.code).to.equal('AR');
      expect(r.ack.errors[0]).to.include({ location: 'MSH^1^6', code: '103' });
      const [m] = await messageByControlId('NOFAC-2');
      expect(m.status).to.equal('rejected');
      expect(m.fhir ?? []).to.have.length(0);
    });

    it('a person number with wrong check digits: AE naming PID-3 and its repetition; nothing written to FHIR', async () => {
      const ack = await mllpExchange(port, variant('adt-a01.hl7', 'BADFNR-1', [['23049210078^^^NOR^FNR', '23049210079^^^NOR^FNR']]));
      expect(ack.code).to.equal('AE');
      expect(ack.errors[0]).to.include({ location: 'PID^1^3^1', code: '102' });
      expect(ack.errors[0].text).to.include('check digits');
      const [m] = await messageByControlId('BADFNR-1');
      expect(m.status).to.equal('rejected');
      expect(m.fhir ?? []).to.have.length(0);
    });

    it('a message over the shape limits (PID-3 with 300 repetitions): AR naming the field, stored as rejected', async () => {
      const reps = Array.from({ length: 300 }, (_, i) => `${i}^^^OUS^MR`).join('~');
      const ack = await mllpExchange(port, variant('adt-a04.hl7', 'SHAPE-1', [['41017010164^^^NOR^DNR', reps]]));
      expect(ack.code).to.equal('AR');
      expect(ack.errors[0]).to.include({ location: 'PID^1^3', code: '102' });
      expect(ack.errors[0].text).to.include('repetitions');
      const [m] = await messageByControlId('SHAPE-1');
      expect(m.status).to.equal('rejected');
    });

    it('an unsupported message type or event: AR 200 / 201 at MSH-9', async () => {
      const t = await mllpExchange(port, variant('adt-a04.hl7', 'TYPE-1', [['ADT^A04^ADT_A01', 'SIU^S12^SIU_S12']]));
      expect(t.code).to.equal('AR');
      expect(t.errors[0]).to.include({ location: 'MSH^1^9', code: '200' });
      const ev = await mllpExchange(port, variant('adt-a04.hl7', 'TYPE-2', [['ADT^A04^ADT_A01', 'ADT^A99^ADT_A01']]));
      expect(ev.errors[0]).to.include({ location: 'MSH^1^9', code: '201' });
    });
  });

  it('enhanced mode (MSH-15/16 AL): CA as soon as stored, then AA on the same connection', async () => {
    const msg = variant('adt-a04.hl7', 'ENH-1', [['|P|2.5.1|', '|P|2.5.1|||AL|AL|']]);
    const c = await MllpClient.connect(port);
    try {
      c.send(msg);
      const first = await c.nextAck();
      const second = await c.nextAck();
      expect([first.code, second.code]).to.deep.equal(['CA', 'AA']);
      expect(first.controlId).to.equal('ENH-1');
      expect(second.controlId).to.equal('ENH-1');
    } finally {
      c.close();
    }
    // MSH-16 NE: the commit ACK only.
    const c2 = await MllpClient.connect(port);
    try {
      c2.send(variant('adt-a04.hl7', 'ENH-2', [['|P|2.5.1|', '|P|2.5.1|||AL|NE|']]));
      expect((await c2.nextAck()).code).to.equal('CA');
      c2.send(variant('adt-a04.hl7', 'ENH-3'));
      expect((await c2.nextAck()).controlId).to.equal('ENH-3'); // the next frame's answer: nothing else came in between
    } finally {
      c2.close();
    }
  });

  it('a resent control id gets the stored ACK, and the message is stored once', async () => {
    const msg = variant('adt-a04.hl7', 'RESEND-1');
    const first = await mllpExchange(port, msg);
    const again = await mllpExchange(port, msg);
    expect(first.code).to.equal('AA');
    expect(again.text).to.equal(first.text);
    const http = await postHttp(msg);
    expect(http.ack.text).to.equal(first.text);
    expect(http.headers.get('x-duplicate')).to.equal('true');
    expect(await messageByControlId('RESEND-1')).to.have.length(1);
  });

  it('several messages on one connection, sent at once, are answered in order', async () => {
    const c = await MllpClient.connect(port);
    try {
      const ids = Array.from({ length: 5 }, (_, i) => `MANY-${i}`);
      c.write(Buffer.concat(ids.map((id) => Buffer.concat([Buffer.from([0x0b]), variant('adt-a04.hl7', id), Buffer.from([0x1c, 0x0d])]))));
      const acks = [];
      for (let i = 0; i < ids.length; i++) acks.push(await c.nextAck());
      expect(acks.map((a) => a.controlId)).to.deep.equal(ids);
      expect(acks.every((a) => a.code === 'AA')).to.equal(true);
    } finally {
      c.close();
    }
  });

  it('a message split across TCP packets (even between 0x1C and 0x0D) is put together', async () => {
    const framed = Buffer.concat([Buffer.from([0x0b]), variant('adt-a04.hl7', 'SPLIT-1'), Buffer.from([0x1c, 0x0d])]);
    const c = await MllpClient.connect(port);
    try {
      const cuts = [1, 20, 57, framed.length - 1];
      let from = 0;
      for (const cut of cuts) {
        c.write(framed.subarray(from, cut));
        from = cut;
        await new Promise((r) => setTimeout(r, 30));
      }
      c.write(framed.subarray(from));
      const ack = await c.nextAck();
      expect(ack.code, ack.text).to.equal('AA');
      expect(ack.controlId).to.equal('SPLIT-1');
    } finally {
      c.close();
    }
  });

  it('a frame over the limit gets AR (not stored) and the connection goes on with the next frame', async () => {
    const big = variant('adt-a04.hl7', 'BIG-1', [['EVN|A04|', `NTE|1||${'x'.repeat(8000)}\rEVN|A04|`]]);
    const c = await MllpClient.connect(port);
    try {
      c.send(big);
      const ack = await c.nextAck();
      expect(ack.code).to.equal('AR');
      expect(ack.controlId).to.equal('BIG-1');
      expect(ack.errors[0].text).to.include('limit of 4096 bytes');
      c.send(variant('adt-a04.hl7', 'AFTER-BIG-1'));
      expect((await c.nextAck()).code).to.equal('AA');
    } finally {
      c.close();
    }
    expect(await messageByControlId('BIG-1')).to.have.length(0);
  });

  it('replays a stored message with the current mapping', async () => {
    const [m] = await messageByControlId('RESEND-1');
    const res = await fetch(`${e.url}/api/messages/${m.id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${await e.token('messages:replay')}` } });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { data: MessageView & { runs?: { trigger: string }[] } };
    expect(body.data.status).to.equal('processed');
  });

  it('tenant isolation: another tenant sees neither the messages nor the resources', async () => {
    await mllpExchange(port, variant('adt-a04.hl7', 'ISO-1'));
    const [m] = await messageByControlId('ISO-1');
    expect(await messageByControlId('ISO-1', OTHER_TENANT)).to.have.length(0);
    expect((await get(`/api/messages/${m.id}`, 'messages:read', OTHER_TENANT)).status).to.equal(404);
    for (const f of m.fhir ?? []) expect((await get(`/fhir/${f.reference}`, 'system/*.read', OTHER_TENANT)).status, f.reference).to.equal(404);
    // The other tenant's facility routes to it: the same message to HOSP-B is the other tenant's, with its own ids.
    const other = await mllpExchange(port, variant('adt-a04.hl7', 'ISO-1', [['|HOSP-A|', '|HOSP-B|']]));
    expect(other.code).to.equal('AA');
    const [mb] = await messageByControlId('ISO-1', OTHER_TENANT);
    expect(mb.id).not.to.equal(m.id);
    expect(mb.fhir![0].reference).not.to.equal(m.fhir![0].reference);
  });

  describe('each message type over MLLP on an engine of its own: AA, stored, FHIR equal to its golden file', () => {
    let main: TestEngine;
    before(async () => {
      main = e;
      e = await startTestEngine({ env: { HL7V2_MLLP_PORT: '0' } });
    });
    after(async () => {
      await e?.stop();
      e = main;
    });
    for (const ex of listExamples(`${EXAMPLES}/..`)) {
      it(ex.name, async () => {
        const bytes = fs.readFileSync(ex.input);
        const controlId = bytes.toString('latin1').split('\r')[0].split('|')[9];
        const ack = await mllpExchange(e.mllpPort!, bytes);
        expect(ack.code, ack.text).to.equal('AA');
        expect(ack.controlId).to.equal(controlId);
        const [m] = await messageByControlId(controlId);
        expect(m.status).to.equal('processed');
        const msh = bytes.toString('latin1').split('\r')[0].split('|');
        expect(m.message_type).to.equal(msh[8].split('^').slice(0, 2).join('^'));
        expect(m.receipt?.kind).to.equal('ack');
        expect(parseAck(m.receipt!.body!).code).to.equal('AA');
        const golden = JSON.parse(fs.readFileSync(ex.golden, 'utf8')) as unknown[];
        expect(normaliseForGolden(await resources(m))).to.deep.equal(golden);
      });
    }
  });

  it('a sender that closes its side right after its frames still gets every answer', async () => {
    const c = await MllpClient.connect(port);
    c.send(variant('adt-a04.hl7', 'HALF-1'));
    c.send(variant('adt-a04.hl7', 'HALF-2'));
    c.socket.end();
    expect((await c.nextAck()).controlId).to.equal('HALF-1');
    expect((await c.nextAck()).controlId).to.equal('HALF-2');
  });

  describe('MLLP over TLS, idle timeout 1 s', () => {
    let main: TestEngine;
    let cert: string;
    before(async () => {
      const dir = fs.mkdtempSync(path.join(tmpDir(), 'mllp-tls-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'ignore' });
      cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
      main = e;
      e = await startTestEngine({
        env: { HL7V2_MLLP_PORT: '0', HL7V2_MLLP_TLS_CERT_FILE: path.join(dir, 'cert.pem'), HL7V2_MLLP_TLS_KEY_FILE: path.join(dir, 'key.pem'), HL7V2_MLLP_IDLE_TIMEOUT_S: '1' },
      });
    });
    after(async () => {
      await e?.stop();
      e = main;
    });

    it('answers over TLS with the configured certificate', async () => {
      const c = await MllpClient.connect(e.mllpPort!, cert);
      try {
        c.send(variant('adt-a04.hl7', 'TLS-1'));
        const ack = await c.nextAck();
        expect(ack.code, ack.text).to.equal('AA');
        expect(ack.controlId).to.equal('TLS-1');
      } finally {
        c.close();
      }
    });

    it('closes a connection that stays idle past HL7V2_MLLP_IDLE_TIMEOUT_S', async () => {
      const c = await MllpClient.connect(e.mllpPort!, cert);
      const deadline = Date.now() + 5_000;
      while (!c.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(c.closed).to.equal(true);
    });
  });

  it('configuration: TLS needs certificate and key; a receiving facility belongs to one tenant', () => {
    expect(() => loadConfig({ HL7V2_MLLP_PORT: '0', HL7V2_MLLP_TLS_CERT_FILE: '/nonexistent.pem' })).to.throw(/HL7V2_MLLP_TLS_KEY_FILE must be set together/);
    expect(() => parseTenants(JSON.stringify([{ id: 'a', hl7v2_receiving_facilities: ['HOSP-X'] }, { id: 'b', hl7v2_receiving_facilities: ['HOSP-X'] }]))).to.throw(/already registered by tenant "a"/);
    expect(() => parseTenants(JSON.stringify([{ id: 'a', hl7v2_receiving_facilities: ['A|B'] }]))).to.throw(/hl7v2_receiving_facilities/);
  });

  it('HTTP needs messages:write', async () => {
    const r = await postHttp(variant('adt-a04.hl7', `SCOPE-${randomUUID().slice(0, 8)}`), TEST_TENANT, 'messages:read');
    expect(r.status).to.equal(403);
  });
});
