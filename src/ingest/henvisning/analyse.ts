/**
 * The CPU-bound half of henvisning processing, free of I/O so it can run in a worker thread (pool.ts):
 *
 *   decode → refuse DTDs → input shape limits + parse → dispatch on the content's namespace URI → XSD (libxml2) →
 *   business checks → mapping (JSONata) → FHIR validation of what the mapping produced.
 *
 * The result (`Analysis`) is plain data (structured-clonable): the envelope facts, and either the rejection the
 * sender gets (AppRec 8221 codes), a failure of our side (mapping), or the mapped resources ready to be written.
 * Writing to the FHIR store, the message store and building the AppRec stay on the main thread (service.ts).
 */
import path from 'node:path';
import { projectPath } from '../../platform/paths.js';
import { MappingRegistry, type MappingRef, type MappingSelection } from '../../mapping/registry.js';
import { mappedIssues, type MappedIssue } from '../apply.js';
import { prune, type MappingOutput } from '../../mapping/output.js';
import { ResourceIds } from '../../mapping/resource-ids.js';
import { decodeXml, parseXmlTree, rejectDtd, XmlInputError, type XmlElement, type XmlLimits } from '../../lib/xml/secure-xml.js';
import { checkWellFormed, SchemaSet } from '../../lib/xml/xsd.js';
import type { AppRecError } from './apprec.js';
import {
  checkMessage,
  envelopeFromText,
  envelopeOf,
  envelopeOfV1,
  HENVISNING_V10_NS,
  HENVISNING_V11_NS,
  HENVISNING_V2_NS,
  mainContent,
  MSGHEAD_NS,
  type Envelope,
} from './envelope.js';

export const SCHEMA_DIR = projectPath('schemas', 'ehelse');

/** Everything an analyser needs; plain data, so a worker thread can be given it. */
export interface AnalyseSettings {
  maxBytes: number;
  limits: XmlLimits;
  mappingsDir: string;
  /** Key of the deterministic FHIR ids (ResourceIds), base64. */
  resourceIdKey: string;
}

/** The tenant a message is analysed for; plain data, sent with each task. */
export interface TenantScope {
  /** HER-ids the tenant receives for (E21 when the receiver is not among them). */
  receiverHerIds: string[];
  /** Key of the tenant's deterministic FHIR ids (ResourceIds.forTenant), base64. */
  resourceIdKey: string;
}

/** Envelope facts learnt while processing, kept on the message. */
interface AnalysisFacts {
  format?: string;
  messageType?: string;
}

/** `sha256`: of the raw bytes, computed in the worker thread so the message store need not hash 10 MB on the event loop. */
export type Analysis = (
  | { kind: 'rejected'; env: Envelope; format?: string; errors: AppRecError[]; message: string; details?: unknown; warnings?: string[]; facts?: AnalysisFacts }
  | { kind: 'failed'; env: Envelope; format?: string; code: string; message: string; details?: unknown; mapping?: MappingRef; warnings: string[]; facts: AnalysisFacts }
  | { kind: 'mapped'; env: Envelope; format: string; output: MappingOutput; mapping: MappingRef; warnings: string[]; facts: AnalysisFacts }
) & { sha256?: string };

/**
 * Which format a parsed document is, by namespace URIs: MsgHead v1.2 whose first XML Document holds Henvisning v2.0,
 * or a Henvisning v1.1 / v1.0 `Message` (not wrapped in MsgHead). `format` is the namespace URI the schema set and the
 * mapping are chosen by; `unsupported` says what was found otherwise.
 */
export function dispatch(tree: { name: string; ns: string | undefined; node: XmlElement | string }): { format?: string; env?: Envelope; unsupported?: string } {
  if (typeof tree.node !== 'object') return { unsupported: `root element ${tree.name} without content` };
  if (tree.name === 'MsgHead' && tree.ns === MSGHEAD_NS) {
    const env = envelopeOf(tree.node);
    const content = mainContent(tree.node);
    if (content.name === 'Henvisning' && content.ns === HENVISNING_V2_NS) return { format: HENVISNING_V2_NS, env };
    return { env, unsupported: `MsgHead content {${content.ns ?? ''}}${content.name ?? '(none)'} (supported: Henvisning v2.0, ${HENVISNING_V2_NS})` };
  }
  if (tree.name === 'Message' && (tree.ns === HENVISNING_V11_NS || tree.ns === HENVISNING_V10_NS)) {
    return { format: tree.ns, env: envelopeOfV1(tree.node) };
  }
  return { unsupported: `root element {${tree.ns ?? ''}}${tree.name} (supported: MsgHead v1.2 with Henvisning v2.0; Henvisning v1.1 and v1.0 Message)` };
}

/** Envelope facts from the first 64 KiB of raw bytes (for answers about messages that could not be analysed). */
export function envelopeFromBytes(bytes: Uint8Array): Envelope {
  return envelopeFromText(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 65_536)).toString('latin1'));
}

/** Placeholder store id for validating mapped resources before the message has its place in the store settled. */
const VALIDATION_STORE_ID = '00000000-0000-4000-8000-000000000000';

export class HenvisningAnalyser {
  private readonly schemas = new Map<string, SchemaSet>();
  private readonly mappings: MappingRegistry;
  private readonly tenantIds = new Map<string, ResourceIds>();

  constructor(private readonly settings: AnalyseSettings) {
    this.schemas.set(HENVISNING_V2_NS, SchemaSet.load(path.join(SCHEMA_DIR, 'msghead-henvisning-v2.0.xsd')));
    this.schemas.set(HENVISNING_V11_NS, SchemaSet.load(path.join(SCHEMA_DIR, 'henvisning-v1.1-set.xsd')));
    this.schemas.set(HENVISNING_V10_NS, SchemaSet.load(path.join(SCHEMA_DIR, 'Henvisning-v1.0.xsd')));
    this.mappings = new MappingRegistry(settings.mappingsDir, new ResourceIds(Buffer.from(settings.resourceIdKey, 'base64')));
  }

  /** The deterministic ids of a tenant's key (kept per key: a thread serves every tenant). */
  private idsOf(key: string): ResourceIds {
    let ids = this.tenantIds.get(key);
    if (!ids) {
      ids = new ResourceIds(Buffer.from(key, 'base64'));
      if (this.tenantIds.size < 10_000) this.tenantIds.set(key, ids);
    }
    return ids;
  }

  /** `selection`: the mapping versions in force (the installation's current ones, or a preview's). */
  async analyse(raw: Uint8Array, tenant: TenantScope, selection: MappingSelection = {}): Promise<Analysis> {
    let env: Envelope = envelopeFromText('');
    const reject = (errors: AppRecError[], message: string, details?: unknown): Analysis => ({ kind: 'rejected', env, errors, message, details });

    // 1. Decode, refuse DTDs, check the input shape and parse.
    let textValue: string;
    try {
      textValue = decodeXml(raw, this.settings.maxBytes).text;
    } catch (err) {
      env = envelopeFromBytes(raw);
      return reject([{ code: 'T01', detail: (err as Error).message }], (err as Error).message);
    }
    try {
      rejectDtd(textValue);
    } catch (err) {
      env = envelopeFromText(textValue);
      return reject([{ code: 'T99', detail: (err as Error).message }], (err as Error).message);
    }
    let tree: ReturnType<typeof parseXmlTree>;
    try {
      tree = parseXmlTree(textValue, this.settings.limits);
    } catch (err) {
      env = envelopeFromText(textValue.slice(0, 65_536));
      if (err instanceof XmlInputError && err.kind === 'limit') return reject([{ code: 'T99', detail: err.message }], err.message);
      const wf = checkWellFormed(Buffer.from(textValue, 'utf8'));
      const detail = wf.ok ? (err as Error).message : wf.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ');
      return reject([{ code: 'T01', detail }], 'XML is not well-formed', wf.ok ? undefined : wf.problems);
    }
    const utf8 = Buffer.from(textValue, 'utf8');

    // 2. Dispatch on namespace URIs (never on prefixes).
    const d = dispatch(tree);
    env = d.env ?? envelopeFromText(textValue.slice(0, 65_536));
    const schema = d.format ? this.schemas.get(d.format) : undefined;
    const root = typeof tree.node === 'object' ? tree.node : undefined;
    if (!root || !schema || !d.format) {
      const wf = checkWellFormed(utf8);
      if (!wf.ok) {
        return reject([{ code: 'T01', detail: wf.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ') }], 'XML is not well-formed', wf.problems);
      }
      const what = d.unsupported ?? `root element {${tree.ns ?? ''}}${tree.name}`;
      return reject([{ code: 'T10', detail: `Unsupported message format: ${what}` }], `Unsupported message format: ${what}`);
    }
    const format = d.format;

    // 3. Schema validation (also the strict well-formedness check).
    const v = schema.validate(utf8);
    if (!v.ok) {
      const detail = v.problems.map((p) => `line ${p.line}: ${p.message}`).join('; ');
      return v.stage === 'wellformed'
        ? { ...reject([{ code: 'T01', detail }], 'XML is not well-formed', v.problems), format }
        : { ...reject([{ code: 'T02', detail }], 'XML does not validate against the schemas', v.problems), format };
    }
    const facts: AnalysisFacts = { format, messageType: env.type.V };

    // 4. Business checks.
    const checks = checkMessage(env, { receiverHerIds: new Set(tenant.receiverHerIds) });
    if (checks.errors.length > 0) {
      return { ...reject(checks.errors, checks.errors.map((e) => `${e.code}: ${e.detail ?? ''}`).join('; ')), format, warnings: checks.warnings, facts };
    }

    // 5. Mapping (data: mappings/henvisning-*), then FHIR validation of its output.
    const mapping = this.mappings.forFormat('henvisning', format, selection);
    if (!mapping || 'missing' in mapping) {
      const message = mapping?.missing ?? `No mapping for henvisning format ${format}`;
      return { kind: 'failed', env, format, code: 'mapping_missing', message, warnings: checks.warnings, facts };
    }
    let output: MappingOutput;
    try {
      output = prune(await mapping.evaluate(root, {}, this.idsOf(tenant.resourceIdKey))) as MappingOutput;
      if (!output || !Array.isArray(output.resources)) throw new Error('Mapping output has no "resources" array');
    } catch (err) {
      return { kind: 'failed', env, format, code: 'mapping_failed', message: (err as Error).message, mapping: mapping.ref, warnings: checks.warnings, facts };
    }
    const warnings = [...checks.warnings, ...(output.warnings ?? [])];
    const issues = mappedIssues(output, { messageId: env.msgId ?? VALIDATION_STORE_ID, sent: env.genDate, received: new Date(), storeId: VALIDATION_STORE_ID });
    if (issues.length > 0) {
      return { ...reject([{ code: 'X99', detail: fhirIssuesText(issues) }], `The content is not valid FHIR: ${fhirIssuesText(issues)}`, issues), format, warnings, facts };
    }
    return { kind: 'mapped', env, format, output, mapping: mapping.ref, warnings, facts };
  }
}

/** One line for the sender: which resource element FHIR refused and why. */
function fhirIssuesText(issues: MappedIssue[]): string {
  return issues
    .slice(0, 3)
    .map((i) => `${i.expression ?? i.resource}: ${i.message}`)
    .join('; ');
}
