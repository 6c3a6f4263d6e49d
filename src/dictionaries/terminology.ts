/**
 * Dictionaries as FHIR terminology: each dictionary is a CodeSystem and an all-codes ValueSet, with the logic of
 * CodeSystem/$lookup and ValueSet/$validate-code (pure functions over the cached dictionary).
 *
 * Canonical URLs: `<DICTIONARY_CANONICAL_BASE>/CodeSystem/<id>` and `…/ValueSet/<id>` (default base
 * https://hl7-engine.example/fhir; id = the dictionary's FHIR id, e.g. icpc2, ehealth-icpc2-reasons). A system may
 * also be given by any alias of the dictionary (http://hl7.org/fhir/sid/icpc-2, urn:oid:…, the eHealth system name
 * such as eHealth/resources, or the dictionary name). The ValueSet holds the active, selectable codes: inactive codes
 * and hierarchy groups (e.g. ICPC-2 chapters) are not in it.
 */
import type { CodeSystem, CodeSystemConcept, CodeSystemProperty, Coding, Parameters, ParametersParameter, ValueSet } from '@medplum/fhirtypes';
import { defaultLanguageOf, type DictionaryCode, type LocalizedText } from './format.js';
import { randomUUID } from 'node:crypto';
import { findCode, type LoadedDictionary } from './service.js';

const CONCEPT_PROPERTIES = 'http://hl7.org/fhir/concept-properties';
const DICTIONARY_NAME_SYSTEM = 'urn:hl7-engine:dictionary';

export function codeSystemUrl(base: string, d: Pick<LoadedDictionary, 'fhirId'>): string {
  return `${base}/CodeSystem/${d.fhirId}`;
}

function valueSetUrl(base: string, d: Pick<LoadedDictionary, 'fhirId'>): string {
  return `${base}/ValueSet/${d.fhirId}`;
}

/** A FHIR `name` (computer friendly): `eHealth/ICPC2/reasons` → `EHealthICPC2Reasons`, `8116` → `D8116`. */
export function computableName(name: string): string {
  const n = name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
  return /^[A-Z]/.test(n) ? n : `D${n}`;
}

function displayOf(d: LoadedDictionary, text: LocalizedText | undefined, language?: string): string | undefined {
  if (!text) return undefined;
  if (language) {
    if (text[language]) return text[language];
    const primary = language.split('-')[0];
    if (text[primary]) return text[primary];
  }
  return text[defaultLanguageOf(d.meta)] ?? Object.values(text)[0];
}

function identifiers(d: LoadedDictionary) {
  const ids = [{ system: DICTIONARY_NAME_SYSTEM, value: d.name }];
  for (const a of d.meta.aliases ?? []) {
    if (/^(urn:|https?:\/\/)/.test(a)) ids.push({ system: 'urn:ietf:rfc:3986', value: a });
    else if (!/^\d+(\.\d+)+$/.test(a)) ids.push({ system: DICTIONARY_NAME_SYSTEM, value: a });
  }
  return ids;
}

function copyright(d: LoadedDictionary): string | undefined {
  const parts = [d.meta.attribution, d.meta.license].filter(Boolean);
  return parts.length ? parts.join(' ') : undefined;
}

function common(d: LoadedDictionary) {
  return {
    id: d.fhirId,
    meta: { versionId: String(d.revision), lastUpdated: new Date(d.updatedAt).toISOString() },
    identifier: identifiers(d),
    version: d.meta.version,
    name: computableName(d.name),
    title: d.meta.title ?? d.name,
    status: d.meta.starter ? ('draft' as const) : ('active' as const),
    experimental: d.meta.starter === true,
    ...(d.meta.source?.publisher ? { publisher: d.meta.source.publisher } : {}),
    ...(d.meta.description ? { description: d.meta.description } : {}),
    ...(copyright(d) ? { copyright: copyright(d) } : {}),
  };
}

const PROPERTY_TYPES: Record<string, CodeSystemProperty['type']> = { code: 'code', string: 'string', integer: 'integer', boolean: 'boolean', decimal: 'decimal' };

function conceptOf(d: LoadedDictionary, c: { code: string; display: LocalizedText; definition?: LocalizedText; active?: boolean; properties?: DictionaryCode['properties'] }, group: boolean): CodeSystemConcept {
  const concept: CodeSystemConcept = { code: c.code };
  const display = displayOf(d, c.display);
  if (display) concept.display = display;
  const definition = displayOf(d, c.definition);
  if (definition) concept.definition = definition;
  const designation = Object.entries(c.display).map(([language, value]) => ({ language, value }));
  if (designation.length > 1 || (designation.length === 1 && designation[0].value !== display)) concept.designation = designation;
  const property: NonNullable<CodeSystemConcept['property']> = [];
  if (group) property.push({ code: 'notSelectable', valueBoolean: true });
  if (c.active === false) property.push({ code: 'inactive', valueBoolean: true });
  for (const def of d.meta.properties ?? []) {
    const v = c.properties?.[def.code];
    if (v === undefined) continue;
    if (def.type === 'boolean') property.push({ code: def.code, valueBoolean: v as boolean });
    else if (def.type === 'integer') property.push({ code: def.code, valueInteger: v as number });
    else if (def.type === 'decimal') property.push({ code: def.code, valueDecimal: v as number });
    else if (def.type === 'code') property.push({ code: def.code, valueCode: String(v) });
    else property.push({ code: def.code, valueString: String(v) });
  }
  if (property.length) concept.property = property;
  return concept;
}

/**
 * The dictionary as a CodeSystem; `withConcepts: false` gives the summary form: no concepts, so `content` is
 * not-present (it says what this instance holds), and meta.tag SUBSETTED as FHIR's _summary rules ask.
 */
export function toCodeSystem(d: LoadedDictionary, base: string, withConcepts = true): CodeSystem {
  const properties: CodeSystemProperty[] = [
    { code: 'inactive', uri: `${CONCEPT_PROPERTIES}#inactive`, type: 'boolean', description: 'True when the code is no longer valid' },
  ];
  if (d.groups.size) properties.push({ code: 'notSelectable', uri: `${CONCEPT_PROPERTIES}#notSelectable`, type: 'boolean', description: 'A grouping (e.g. a chapter), not a code' });
  for (const p of d.meta.properties ?? []) properties.push({ code: p.code, type: PROPERTY_TYPES[p.type], ...(p.description ? { description: p.description } : {}) });

  const cs: CodeSystem = {
    resourceType: 'CodeSystem',
    ...common(d),
    url: codeSystemUrl(base, d),
    caseSensitive: true,
    valueSet: valueSetUrl(base, d),
    ...(d.meta.hierarchy ? { hierarchyMeaning: d.meta.hierarchy.meaning } : {}),
    content: withConcepts ? 'complete' : 'not-present',
    count: d.codes.length + d.groups.size,
    property: properties,
  };
  if (!withConcepts) {
    // content describes this instance (its concepts are left out); count still tells how many the full form has.
    cs.meta = { ...cs.meta, tag: [...(cs.meta?.tag ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' }] };
    return cs;
  }
  // Nested by parent: groups and codes whose parent is known hang under it, the rest are top level.
  const nodes = new Map<string, CodeSystemConcept>();
  const parents = new Map<string, string | undefined>();
  for (const g of d.groups.values()) {
    nodes.set(g.code, conceptOf(d, g, true));
    parents.set(g.code, g.parent);
  }
  for (const c of d.codes) {
    nodes.set(c.code, conceptOf(d, c, false));
    parents.set(c.code, c.parent);
  }
  const top: CodeSystemConcept[] = [];
  for (const [code, node] of nodes) {
    const parent = parents.get(code);
    const p = parent !== undefined ? nodes.get(parent) : undefined;
    if (p) (p.concept ??= []).push(node);
    else top.push(node);
  }
  cs.concept = top;
  return cs;
}

export function toValueSet(d: LoadedDictionary, base: string): ValueSet {
  return {
    resourceType: 'ValueSet',
    ...common(d),
    url: valueSetUrl(base, d),
    ...(d.meta.description ? { description: `All active codes of ${d.meta.title ?? d.name}. ${d.meta.description}` } : {}),
    immutable: false,
    compose: { inactive: false, include: [{ system: codeSystemUrl(base, d), version: d.meta.version }] },
  };
}

export function lookupParameters(d: LoadedDictionary, code: string, language?: string): Parameters | undefined {
  const c = findCode(d, code);
  const group = c ? undefined : d.groups.get(code);
  const item = c ?? group;
  if (!item) return undefined;
  const parameter: ParametersParameter[] = [{ name: 'name', valueString: computableName(d.name) }, { name: 'version', valueString: d.meta.version }];
  const display = displayOf(d, item.display, language);
  if (display) parameter.push({ name: 'display', valueString: display });
  if (c && c.code !== code) parameter.push({ name: 'code', valueCode: c.code });
  const definition = c ? displayOf(d, c.definition, language) : undefined;
  if (definition) parameter.push({ name: 'definition', valueString: definition });
  for (const [lang, value] of Object.entries(item.display)) {
    parameter.push({ name: 'designation', part: [{ name: 'language', valueCode: lang }, { name: 'value', valueString: value }] });
  }
  const prop = (name: string, value: ParametersParameter) => parameter.push({ name: 'property', part: [{ name: 'code', valueCode: name }, value] });
  prop('inactive', { name: 'value', valueBoolean: c ? !c.active : false });
  if (group) prop('notSelectable', { name: 'value', valueBoolean: true });
  if (item.parent) prop('parent', { name: 'value', valueCode: item.parent });
  for (const def of d.meta.properties ?? []) {
    const v = c?.properties?.[def.code];
    if (v === undefined) continue;
    prop(def.code, typeof v === 'boolean' ? { name: 'value', valueBoolean: v } : typeof v === 'number' ? { name: 'value', valueDecimal: v } : def.type === 'code' ? { name: 'value', valueCode: String(v) } : { name: 'value', valueString: String(v) });
  }
  return { resourceType: 'Parameters', parameter };
}

export interface ValidationVerdict {
  result: boolean;
  message?: string;
  display?: string;
  code?: string;
  system?: string;
}

/**
 * Is `code` (optionally with `display`) an active, selectable code of the dictionary? The same answer as
 * `isValidCode`; a display is accepted when it equals any designation (case and surrounding spaces ignored).
 */
export function validateCode(d: LoadedDictionary, systemUrl: string, code: string, display?: string, language?: string): ValidationVerdict {
  const c = findCode(d, code);
  if (!c) {
    const what = d.groups.has(code) ? `"${code}" is a grouping of ${d.name}, not a code` : `Unknown code "${code}" in ${d.name}`;
    return { result: false, message: what, system: systemUrl, code };
  }
  const shown = displayOf(d, c.display, language);
  if (!c.active) return { result: false, message: `Code "${c.code}" of ${d.name} is inactive`, display: shown, system: systemUrl, code: c.code };
  if (display !== undefined) {
    const norm = (s: string) => s.trim().toLowerCase();
    const ok = Object.values(c.display).some((t) => norm(t) === norm(display));
    if (!ok) {
      return {
        result: false,
        message: `Display "${display}" is not a display of code "${c.code}" in ${d.name} (valid: ${Object.values(c.display).map((t) => `"${t}"`).join(', ')})`,
        display: shown,
        system: systemUrl,
        code: c.code,
      };
    }
  }
  return {
    result: true,
    display: shown,
    system: systemUrl,
    code: c.code,
    ...(c.code !== code ? { message: `Code "${code}" is accepted as "${c.code}"` } : {}),
  };
}

export function verdictParameters(v: ValidationVerdict): Parameters {
  const parameter: ParametersParameter[] = [{ name: 'result', valueBoolean: v.result }];
  if (v.message) parameter.push({ name: 'message', valueString: v.message });
  if (v.display) parameter.push({ name: 'display', valueString: v.display });
  if (v.code) parameter.push({ name: 'code', valueCode: v.code });
  if (v.system) parameter.push({ name: 'system', valueUri: v.system });
  return { resourceType: 'Parameters', parameter };
}

export function expansion(d: LoadedDictionary, base: string, opts: { filter?: string; offset: number; count: number; language?: string }): ValueSet {
  const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const q = opts.filter ? fold(opts.filter) : undefined;
  const system = codeSystemUrl(base, d);
  const matching = d.codes.filter((c) => c.active && (!q || fold(c.code).startsWith(q) || Object.values(c.display).some((t) => fold(t).includes(q))));
  const contains: Coding[] = matching.slice(opts.offset, opts.offset + opts.count).map((c) => ({ system, version: d.meta.version, code: c.code, display: displayOf(d, c.display, opts.language) }));
  return {
    ...toValueSet(d, base),
    expansion: {
      identifier: `urn:uuid:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      total: matching.length,
      offset: opts.offset,
      parameter: [
        ...(opts.filter ? [{ name: 'filter', valueString: opts.filter }] : []),
        { name: 'offset', valueInteger: opts.offset },
        { name: 'count', valueInteger: opts.count },
      ],
      contains,
    },
  };
}
