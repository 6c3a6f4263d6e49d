/**
 * XML Schema validation with libxml2 compiled to WebAssembly (libxml2-wasm).
 *
 * Chosen by measurement (docs/ingestion.md): the schema set is compiled once at start (~25 ms) and reused;
 * parsing + validating a referral then costs ~0.1 ms (0.3–0.7 ms for the samples with a PDF attachment), where a
 * WASM xmllint call that recompiles the schemas per message costs ~100 ms.
 *
 * Schemas are served to libxml2 from memory: only the files of the given schema folder can be loaded (no file system
 * or network access from schema imports or instance hints). Documents are parsed with NONET and NO_XXE; callers have
 * already refused DTDs (secure-xml.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ParseOption, XmlBufferInputProvider, XmlDocument, XmlLibError, XsdValidator, xmlRegisterInputProvider, type ErrorDetail } from 'libxml2-wasm';

const PARSE_OPTIONS = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE;

const registeredDirs = new Set<string>();

/** Makes every .xsd of `dir` loadable by libxml2 under its absolute path (once per folder). */
function registerSchemaFolder(dir: string): void {
  if (registeredDirs.has(dir)) return;
  const buffers: Record<string, Uint8Array> = {};
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.xsd')) buffers[path.join(dir, f)] = fs.readFileSync(path.join(dir, f));
  }
  xmlRegisterInputProvider(new XmlBufferInputProvider(buffers));
  registeredDirs.add(dir);
}

interface XmlProblem {
  line: number;
  message: string;
}

export type ValidationResult =
  | { ok: true }
  | { ok: false; stage: 'wellformed' | 'schema'; problems: XmlProblem[] };

function problems(details: ErrorDetail[] | undefined, fallback: string): XmlProblem[] {
  const list = (details ?? []).filter((d) => d.level >= 2).slice(0, 20);
  if (list.length === 0) return [{ line: 0, message: fallback }];
  return list.map((d) => ({ line: d.line, message: d.message.trim() }));
}

/** Checks well-formedness only (libxml2 parse), for documents no schema set is chosen for. */
export function checkWellFormed(utf8: Uint8Array): ValidationResult {
  let doc: XmlDocument | undefined;
  try {
    doc = XmlDocument.fromBuffer(utf8, { option: PARSE_OPTIONS, encoding: 'utf-8' });
    return { ok: true };
  } catch (err) {
    return { ok: false, stage: 'wellformed', problems: problems((err as XmlLibError).details, (err as Error).message) };
  } finally {
    doc?.dispose();
  }
}

/** A compiled schema set (one entry .xsd and everything it imports from the same folder). */
export class SchemaSet {
  private constructor(
    readonly name: string,
    private readonly validator: XsdValidator,
  ) {}

  static load(entryFile: string): SchemaSet {
    const file = path.resolve(entryFile);
    registerSchemaFolder(path.dirname(file));
    // The schema document stays alive with the validator (libxml2 may keep pointers into it); schema sets live for
    // the whole process.
    const xsdDoc = XmlDocument.fromBuffer(fs.readFileSync(file), { url: file, option: PARSE_OPTIONS });
    return new SchemaSet(path.basename(file), XsdValidator.fromDoc(xsdDoc));
  }

  /**
   * Parses (well-formedness) and validates a document given as UTF-8 bytes (the caller decoded the original encoding;
   * the declaration's encoding is overridden).
   */
  validate(utf8: Uint8Array): ValidationResult {
    let doc: XmlDocument;
    try {
      doc = XmlDocument.fromBuffer(utf8, { option: PARSE_OPTIONS, encoding: 'utf-8' });
    } catch (err) {
      return { ok: false, stage: 'wellformed', problems: problems((err as XmlLibError).details, (err as Error).message) };
    }
    try {
      this.validator.validate(doc);
      return { ok: true };
    } catch (err) {
      return { ok: false, stage: 'schema', problems: problems((err as XmlLibError).details, (err as Error).message) };
    } finally {
      doc.dispose();
    }
  }
}
