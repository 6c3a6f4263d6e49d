/**
 * Configuration from environment variables, validated once at start-up.
 *
 * Every variable the engine reads is declared here (and in the table of docs/configuration.md and docker-compose.yml).
 * A wrong value throws a ConfigError whose message is one line naming the variable; main.ts prints it and exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectPath } from '../paths.js';
import { parseTenants, type TenantConfig } from '../tenancy/directory.js';

export class ConfigError extends Error {
  constructor(
    public readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  /** The engine's public base URL (PUBLIC_URL, e.g. https://engine.example); unset = http://localhost:<listening port>. */
  publicUrl: string | undefined;
  dataDir: string;
  /** Explicit MongoDB URI; when absent the embedded development database is used. */
  mongodbUri: string | undefined;
  mongodbDatabase: string;
  logLevel: LogLevel;
  /** Maximum request body in bytes (JSON and XML). */
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  /** Referral ingestion and the message store (src/ingest; docs/ingestion.md). */
  ingest: {
    /** Largest inbound message (MESSAGE_MAX_BYTES, default 10mb); larger bodies get 413. */
    messageMaxBytes: number;
    /** Raw messages up to this size (MESSAGE_INLINE_MAX_BYTES, default 1mb) are stored inline, larger in media storage. */
    messageInlineMaxBytes: number;
    /** Messages are deleted this many days after receipt (MESSAGE_RETENTION_DAYS, default 365): TTL index + sweeper. */
    retentionDays: number;
    /** Folder of the mappings (MAPPINGS_DIR, default <project>/mappings). */
    mappingsDir: string;
    /** How long a process keeps the current mapping versions read from the database (MAPPING_SELECTION_CACHE_MS, default 2000; 0 = read per message). */
    mappingSelectionCacheMs: number;
    /** Key of the deterministic FHIR ids (RESOURCE_ID_KEY); undefined = generated once and kept in the database. */
    resourceIdKey: string | undefined;
    /** Largest clock difference accepted on a signed Pridok delivery (PRIDOK_SIGNATURE_MAX_SKEW_SECONDS, default 300). */
    pridokMaxSkewSeconds: number;
    /** Messages mapped and written to FHIR at once per engine (INGEST_CONCURRENCY, default 8); the others wait. */
    concurrency: number;
    /** Worker threads that decode, parse, validate and map henvisning messages (INGEST_WORKER_THREADS, default cores - 1, at least 1). */
    workerThreads: number;
    /** Milliseconds a worker may spend on one message before it is rejected (INGEST_TIME_BUDGET_MS, default 10000). */
    timeBudgetMs: number;
    /** Heap of one worker thread in MB (INGEST_WORKER_MAX_HEAP_MB, default 1024); a message needing more is rejected. */
    workerMaxHeapMb: number;
    /** Input shape limits of one XML message (XML_MAX_ELEMENTS, XML_MAX_ATTRIBUTES, XML_MAX_ATTRIBUTES_PER_ELEMENT, XML_MAX_DEPTH, XML_MAX_TEXT_LENGTH). */
    xmlLimits: {
      maxElements: number;
      maxAttributes: number;
      maxAttributesPerElement: number;
      maxDepth: number;
      maxTextLength: number;
    };
    /** How far a message's own time (GenDate, MessageTimestamp) may be ahead of our clock (INGEST_FUTURE_SKEW_S, default 300). */
    futureSkewMs: number;
    /** How long a first ingest counts as running; after that a resend or recovery may process the message (INGEST_LEASE_S, default 120). */
    leaseMs: number;
    /** How often unfinished messages of dead engines are looked for (INGEST_RECOVERY_INTERVAL_S, default 30; 0 = never). */
    recoveryIntervalMs: number;
  };
  /** The legal entities served here and what routes inbound messages to them (TENANTS or TENANTS_FILE; src/platform/tenancy). */
  tenants: TenantConfig[];
  /** HL7 v2 over MLLP (src/ingest/hl7v2, docs/hl7v2.md). */
  mllp: {
    /** HL7V2_MLLP_PORT; undefined = no MLLP listener (the default). */
    port: number | undefined;
    /** HL7V2_MLLP_HOST (default HOST). */
    host: string;
    /** HL7V2_MLLP_TLS_CERT_FILE and HL7V2_MLLP_TLS_KEY_FILE (PEM): MLLP over TLS when both are set. */
    tls: { certFile: string; keyFile: string } | undefined;
    /** Largest frame (HL7V2_MLLP_MAX_FRAME_BYTES, default 1mb, at most MESSAGE_MAX_BYTES): larger ones get AR. */
    maxFrameBytes: number;
    /** A connection that sends nothing for this long is closed (HL7V2_MLLP_IDLE_TIMEOUT_S, default 300). */
    idleTimeoutMs: number;
    /** Connections open at once (HL7V2_MLLP_MAX_CONNECTIONS, default 512); more are closed at once. */
    maxConnections: number;
  };
  /** Basic-auth credentials for the operators' pages (Agendash); unset = admin bearer tokens only. */
  admin: { username: string | undefined; password: string | undefined };
  jobs: {
    pollIntervalMs: number;
    lockLifetimeMs: number;
    etaSeconds: number;
  };
  /** Field encryption at rest (consultation results, reports). Empty `keys`: a generated local key file is used. */
  encryption: {
    keys: { kid: string; key: Buffer }[];
    activeKeyId: string | undefined;
  };
  consultations: {
    /** Base URL of the chat/video front end the session links sent to patients point to; unset = <public URL>/sessions. */
    sessionBaseUrl: string | undefined;
    /** Agenda interval (cron or human interval) of the daily insurer report; undefined = not scheduled. */
    reportSchedule: string | undefined;
    /** Live queue (GET /api/consultations/events): heartbeat comment interval and how often streams look for events of other processes. */
    streamHeartbeatMs: number;
    streamPollMs: number;
  };
  /** Delivery of patient notices from the outbox (src/notifications; docs/notifications.md). Unset channel = not sent. */
  notifications: {
    /** E-mail over SMTP (NOTIFY_SMTP_URL smtp:// or smtps://, NOTIFY_EMAIL_FROM). */
    email: { smtpUrl: string; from: string } | undefined;
    /** SMS through an HTTP provider: a JSON POST to NOTIFY_SMS_URL with NOTIFY_SMS_TOKEN as bearer token. */
    sms: { url: string; token: string; sender: string | undefined } | undefined;
    /** Delivery attempts in total before a message is failed (NOTIFY_MAX_ATTEMPTS, default 6). */
    maxAttempts: number;
    /** First retry delay; doubles per retry (NOTIFY_BACKOFF_MS, default 30000). */
    backoffMs: number;
  };
  auth: {
    jwksFile: string | undefined;
    jwksUri: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
  /** Care plan activities (src/careplans): eHealth configuration parameters and a test-only fault hook. */
  carePlans: {
    /** ME_ALLOWED_TRANSACTIONS_LE_TYPES: legal entity types that may create medical events. */
    allowedLegalEntityTypes: string[];
    /** BLOCK_UNVERIFIED_PARTY_USERS: refuse users whose party is NOT_VERIFIED for longer than the period below. */
    blockUnverifiedPartyUsers: boolean;
    /** UNVERIFIED_PARTY_PERIOD_DAYS_ALLOWED: days a NOT_VERIFIED party may still act. */
    unverifiedPartyPeriodDaysAllowed: number;
    /** CARE_PLAN_ACTIVITY_FAULT (tests only): stop the create job after a processing step. */
    fault: { step: string; mode: 'exit' | 'throw' } | undefined;
  };
  /** CMS signature verification (src/lib/signature): trust anchors, CRLs, SHA-1 policy. */
  signature: {
    /** PEM bundle of trusted CA certificates; undefined = no anchors (every signature is untrusted_signer). */
    trustAnchorsFile: string | undefined;
    /** PEM or DER CRL files checked for revocation. */
    crlFiles: string[];
    allowSha1: boolean;
    /** How often the anchor and CRL files are checked for changes and reloaded (0 = read only at start). */
    reloadCheckMs: number;
  };
  /** Registries (src/registries): how often the read cache compares its stamps with the database (0 = every lookup). */
  registries: { cacheCheckMs: number };
  /** Dictionaries (src/dictionaries): shipped files, cache freshness, uploads, kept revisions, FHIR canonical URLs. */
  dictionaries: {
    /** Folder of the shipped dictionary files stored on first start (DICTIONARIES_DIR). */
    dir: string;
    /** How often the in-process cache compares its version stamps with the database (0 = every lookup). */
    cacheCheckMs: number;
    /** Maximum body of PUT /api/dictionaries/{name} (JSON or CSV). */
    uploadLimitBytes: number;
    /** Revisions kept per dictionary for rollback. */
    versionsKept: number;
    /** Base of canonical CodeSystem/ValueSet URLs: <base>/CodeSystem/<id>. */
    canonicalBase: string;
  };
  /** FHIR API (src/fhir-api). */
  fhir: {
    /** Public base URL of the FHIR API (FHIR_BASE_URL) for links, Location and fullUrl; unset = from the request's Host. */
    baseUrl: string | undefined;
  };
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 };

/** Parses sizes such as `512kb`, `10mb` or a plain byte count. */
function parseSize(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v);
  if (!m) throw new ConfigError(name, `must be a size such as 10mb or 512kb, got "${v}"`);
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]);
}

function oneOf<T extends string>(env: Env, name: string, def: T, allowed: readonly T[]): T {
  const v = str(env, name);
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(u.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${u.protocol}`);
  }
  return v;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const v = str(env, name);
  if (v === undefined) return def;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

/** A path to an existing regular file (resolved against the working directory). */
function existingFile(name: string, v: string): string {
  const p = path.resolve(v);
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new ConfigError(name, `names a file that does not exist: ${p}`);
  }
  if (!st.isFile()) throw new ConfigError(name, `must name a file: ${p}`);
  return p;
}

/** Referral ingestion settings (docs/ingestion.md). */
function ingestConfig(env: Env): Config['ingest'] {
  const maxBytes = parseSize('MESSAGE_MAX_BYTES', str(env, 'MESSAGE_MAX_BYTES') ?? '10mb');
  if (maxBytes < 1024 || maxBytes > 100 * 1024 * 1024) throw new ConfigError('MESSAGE_MAX_BYTES', 'must be between 1kb and 100mb');
  const inlineMax = parseSize('MESSAGE_INLINE_MAX_BYTES', str(env, 'MESSAGE_INLINE_MAX_BYTES') ?? '1mb');
  if (inlineMax > 8 * 1024 * 1024) throw new ConfigError('MESSAGE_INLINE_MAX_BYTES', 'must be at most 8mb (documents are limited to 16 MB)');
  for (const replaced of ['HENVISNING_RECEIVER_HER_IDS', 'PRIDOK_WEBHOOK_SECRET']) {
    if (str(env, replaced) !== undefined) {
      throw new ConfigError(replaced, 'is replaced by the per-tenant settings in TENANTS / TENANTS_FILE (docs/tenancy.md)');
    }
  }
  const resourceIdKey = str(env, 'RESOURCE_ID_KEY');
  if (resourceIdKey !== undefined && resourceIdKey.length < 32) throw new ConfigError('RESOURCE_ID_KEY', 'must be at least 32 characters');
  const mappingsDir = str(env, 'MAPPINGS_DIR');
  return {
    messageMaxBytes: maxBytes,
    messageInlineMaxBytes: inlineMax,
    retentionDays: int(env, 'MESSAGE_RETENTION_DAYS', 365, 1, 36_500),
    mappingsDir: mappingsDir ? path.resolve(mappingsDir) : projectPath('mappings'),
    mappingSelectionCacheMs: int(env, 'MAPPING_SELECTION_CACHE_MS', 2_000, 0, 600_000),
    resourceIdKey,
    pridokMaxSkewSeconds: int(env, 'PRIDOK_SIGNATURE_MAX_SKEW_SECONDS', 300, 1, 86_400),
    concurrency: int(env, 'INGEST_CONCURRENCY', 8, 1, 64),
    workerThreads: int(env, 'INGEST_WORKER_THREADS', Math.max(1, os.availableParallelism() - 1), 1, 64),
    timeBudgetMs: int(env, 'INGEST_TIME_BUDGET_MS', 10_000, 1, 600_000),
    workerMaxHeapMb: int(env, 'INGEST_WORKER_MAX_HEAP_MB', 1024, 64, 16_384),
    xmlLimits: {
      maxElements: int(env, 'XML_MAX_ELEMENTS', 100_000, 10, 10_000_000),
      maxAttributes: int(env, 'XML_MAX_ATTRIBUTES', 200_000, 10, 10_000_000),
      maxAttributesPerElement: int(env, 'XML_MAX_ATTRIBUTES_PER_ELEMENT', 100, 1, 10_000),
      // fast-xml-parser refuses more than 64 levels itself (maxNestedTags in secure-xml.ts).
      maxDepth: int(env, 'XML_MAX_DEPTH', 64, 2, 64),
      maxTextLength: xmlTextLength(env),
    },
    futureSkewMs: int(env, 'INGEST_FUTURE_SKEW_S', 300, 0, 86_400) * 1000,
    leaseMs: int(env, 'INGEST_LEASE_S', 120, 1, 86_400) * 1000,
    recoveryIntervalMs: int(env, 'INGEST_RECOVERY_INTERVAL_S', 30, 0, 86_400) * 1000,
  };
}

/** HL7 v2 over MLLP: off unless HL7V2_MLLP_PORT is set. */
function mllpConfig(env: Env, host: string, messageMaxBytes: number): Config['mllp'] {
  const portText = str(env, 'HL7V2_MLLP_PORT');
  const cert = str(env, 'HL7V2_MLLP_TLS_CERT_FILE');
  const key = str(env, 'HL7V2_MLLP_TLS_KEY_FILE');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('HL7V2_MLLP_TLS_CERT_FILE', 'and HL7V2_MLLP_TLS_KEY_FILE must be set together');
  const maxFrame = parseSize('HL7V2_MLLP_MAX_FRAME_BYTES', str(env, 'HL7V2_MLLP_MAX_FRAME_BYTES') ?? '1mb');
  if (maxFrame < 1024 || maxFrame > messageMaxBytes) throw new ConfigError('HL7V2_MLLP_MAX_FRAME_BYTES', `must be between 1kb and MESSAGE_MAX_BYTES (${messageMaxBytes})`);
  return {
    port: portText === undefined ? undefined : int(env, 'HL7V2_MLLP_PORT', 0, 0, 65535),
    host: str(env, 'HL7V2_MLLP_HOST') ?? host,
    tls: cert && key ? { certFile: existingFile('HL7V2_MLLP_TLS_CERT_FILE', cert), keyFile: existingFile('HL7V2_MLLP_TLS_KEY_FILE', key) } : undefined,
    maxFrameBytes: maxFrame,
    idleTimeoutMs: int(env, 'HL7V2_MLLP_IDLE_TIMEOUT_S', 300, 1, 86_400) * 1000,
    maxConnections: int(env, 'HL7V2_MLLP_MAX_CONNECTIONS', 512, 1, 100_000),
  };
}

/** TENANTS (inline JSON) or TENANTS_FILE (a JSON file): the tenants and their message routing (src/platform/tenancy/directory.ts). */
function tenantsConfig(env: Env): TenantConfig[] {
  const inline = str(env, 'TENANTS');
  const file = str(env, 'TENANTS_FILE');
  if (inline !== undefined && file !== undefined) throw new ConfigError('TENANTS', 'and TENANTS_FILE are both set; use one');
  const name = file !== undefined ? 'TENANTS_FILE' : 'TENANTS';
  const json = file !== undefined ? fs.readFileSync(existingFile('TENANTS_FILE', file), 'utf8') : inline;
  if (json === undefined) return [];
  try {
    return parseTenants(json);
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

/** XML_MAX_TEXT_LENGTH: characters of one text node or attribute value, as a size (default 2mb = 2 097 152). */
function xmlTextLength(env: Env): number {
  const n = parseSize('XML_MAX_TEXT_LENGTH', str(env, 'XML_MAX_TEXT_LENGTH') ?? '2mb');
  if (n < 1024 || n > 100 * 1024 * 1024) throw new ConfigError('XML_MAX_TEXT_LENGTH', 'must be between 1kb and 100mb');
  return n;
}

function signatureConfig(env: Env): Config['signature'] {
  const anchors = str(env, 'SIGNATURE_TRUST_ANCHORS');
  const crls = (str(env, 'SIGNATURE_CRL_FILES') ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  return {
    trustAnchorsFile: anchors === undefined ? undefined : existingFile('SIGNATURE_TRUST_ANCHORS', anchors),
    crlFiles: crls.map((f) => existingFile('SIGNATURE_CRL_FILES', f)),
    allowSha1: bool(env, 'SIGNATURE_ALLOW_SHA1', false),
    reloadCheckMs: int(env, 'SIGNATURE_TRUST_RELOAD_MS', 5_000, 0, 3_600_000),
  };
}

const KID_RE = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * ENCRYPTION_KEYS = "kid1:base64key,kid2:base64key" (each key exactly 32 bytes, standard or url-safe base64) and
 * ENCRYPTION_ACTIVE_KEY_ID (required with more than one key; the only key otherwise).
 */
export function parseEncryptionKeys(env: Env): Config['encryption'] {
  const raw = str(env, 'ENCRYPTION_KEYS');
  const active = str(env, 'ENCRYPTION_ACTIVE_KEY_ID');
  if (raw === undefined) {
    if (active !== undefined) throw new ConfigError('ENCRYPTION_ACTIVE_KEY_ID', 'is set but ENCRYPTION_KEYS is empty');
    return { keys: [], activeKeyId: undefined };
  }
  const keys: { kid: string; key: Buffer }[] = [];
  for (const [i, entry] of raw.split(',').map((e) => e.trim()).entries()) {
    const sep = entry.indexOf(':');
    const kid = sep > 0 ? entry.slice(0, sep) : '';
    const b64 = sep > 0 ? entry.slice(sep + 1).trim() : '';
    if (!KID_RE.test(kid)) {
      throw new ConfigError('ENCRYPTION_KEYS', `entry ${i + 1} must be "<key id>:<base64 key>" with a key id of 1-32 letters, digits, _ or -`);
    }
    if (keys.some((k) => k.kid === kid)) throw new ConfigError('ENCRYPTION_KEYS', `key id "${kid}" appears twice`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) throw new ConfigError('ENCRYPTION_KEYS', `key "${kid}" is not base64`);
    const key = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length !== 32) {
      throw new ConfigError('ENCRYPTION_KEYS', `key "${kid}" must decode to 32 bytes (AES-256), got ${key.length}`);
    }
    keys.push({ kid, key });
  }
  if (active === undefined && keys.length > 1) {
    throw new ConfigError('ENCRYPTION_ACTIVE_KEY_ID', 'is required when ENCRYPTION_KEYS holds more than one key');
  }
  const activeKeyId = active ?? keys[0].kid;
  if (!keys.some((k) => k.kid === activeKeyId)) {
    throw new ConfigError('ENCRYPTION_ACTIVE_KEY_ID', `"${activeKeyId}" is not a key id in ENCRYPTION_KEYS`);
  }
  return { keys, activeKeyId };
}

/** CONSULTATION_REPORT_SCHEDULE: a cron expression or Agenda interval (default "0 2 * * *", UTC); "off" disables. */
function reportSchedule(env: Env): string | undefined {
  const v = str(env, 'CONSULTATION_REPORT_SCHEDULE') ?? '0 2 * * *';
  if (v.toLowerCase() === 'off') return undefined;
  if (!/^[\w\s*/,.-]{1,100}$/.test(v)) {
    throw new ConfigError('CONSULTATION_REPORT_SCHEDULE', `must be a cron expression, an interval such as "1 day", or "off"`);
  }
  return v;
}

/** Patient notice delivery (docs/notifications.md): each channel is configured completely or not at all. */
function notificationsConfig(env: Env): Config['notifications'] {
  const smtpUrl = url(env, 'NOTIFY_SMTP_URL', ['smtp:', 'smtps:']);
  const from = str(env, 'NOTIFY_EMAIL_FROM');
  if (smtpUrl && !from) throw new ConfigError('NOTIFY_EMAIL_FROM', 'must be set when NOTIFY_SMTP_URL is set (the sender address of the e-mails)');
  if (from && !smtpUrl) throw new ConfigError('NOTIFY_SMTP_URL', 'must be set when NOTIFY_EMAIL_FROM is set');
  if (from && !/^[^\s@<>]+@[^\s@<>]+$|^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/.test(from)) {
    throw new ConfigError('NOTIFY_EMAIL_FROM', 'must be an e-mail address, optionally with a name: "Clinic <no-reply@clinic.example>"');
  }
  const smsUrl = url(env, 'NOTIFY_SMS_URL', ['https:', 'http:']);
  const token = str(env, 'NOTIFY_SMS_TOKEN');
  if (smsUrl && !token) throw new ConfigError('NOTIFY_SMS_TOKEN', 'must be set when NOTIFY_SMS_URL is set');
  if (token && !smsUrl) throw new ConfigError('NOTIFY_SMS_URL', 'must be set when NOTIFY_SMS_TOKEN is set');
  const sender = str(env, 'NOTIFY_SMS_SENDER');
  if (sender !== undefined && !/^[A-Za-z0-9 ]{1,11}$|^\+?\d{3,15}$/.test(sender)) {
    throw new ConfigError('NOTIFY_SMS_SENDER', 'must be up to 11 letters, digits or spaces, or a phone number');
  }
  return {
    email: smtpUrl && from ? { smtpUrl, from } : undefined,
    sms: smsUrl && token ? { url: smsUrl, token, sender } : undefined,
    maxAttempts: int(env, 'NOTIFY_MAX_ATTEMPTS', 6, 1, 50),
    backoffMs: int(env, 'NOTIFY_BACKOFF_MS', 30_000, 10, 86_400_000),
  };
}

function adminCredentials(env: Env): Config['admin'] {
  const username = str(env, 'ADMIN_USERNAME');
  const password = str(env, 'ADMIN_PASSWORD');
  if (username && !password) throw new ConfigError('ADMIN_PASSWORD', 'must be set when ADMIN_USERNAME is set');
  if (password && !username) throw new ConfigError('ADMIN_USERNAME', 'must be set when ADMIN_PASSWORD is set');
  if (username && username.includes(':')) throw new ConfigError('ADMIN_USERNAME', 'must not contain ":"');
  if (password && password.length < 12) throw new ConfigError('ADMIN_PASSWORD', 'must be at least 12 characters');
  return { username, password };
}

/** Care plan settings (docs/care-plans.md). */
function carePlansConfig(env: Env): Config['carePlans'] {
  const types = (str(env, 'ME_ALLOWED_TRANSACTIONS_LE_TYPES') ?? 'MSP,MSP_PHARMACY,PRIMARY_CARE,OUTPATIENT,EMERGENCY')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  for (const t of types) {
    if (!/^[A-Z_]{2,50}$/.test(t)) throw new ConfigError('ME_ALLOWED_TRANSACTIONS_LE_TYPES', `must be a comma-separated list of legal entity types, got "${t}"`);
  }
  const fault = str(env, 'CARE_PLAN_ACTIVITY_FAULT');
  const m = fault === undefined ? undefined : /^(signed_content_saved|activity_stored|care_plan_activated|fhir_written):(exit|throw)$/.exec(fault);
  if (fault !== undefined && !m) {
    throw new ConfigError('CARE_PLAN_ACTIVITY_FAULT', 'must be "<signed_content_saved|activity_stored|care_plan_activated|fhir_written>:<exit|throw>"');
  }
  return {
    allowedLegalEntityTypes: types,
    blockUnverifiedPartyUsers: bool(env, 'BLOCK_UNVERIFIED_PARTY_USERS', false),
    unverifiedPartyPeriodDaysAllowed: int(env, 'UNVERIFIED_PARTY_PERIOD_DAYS_ALLOWED', 30, 0, 3650),
    fault: m ? { step: m[1], mode: m[2] as 'exit' | 'throw' } : undefined,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(str(env, 'DATA_DIR') ?? '.data');
  const mongodbUri = url(env, 'MONGODB_URI', ['mongodb:', 'mongodb+srv:']);
  const jwksFile = str(env, 'AUTH_JWKS_FILE');
  const jwksUri = url(env, 'AUTH_JWKS_URI', ['https:', 'http:']);
  if (jwksFile && jwksUri) throw new ConfigError('AUTH_JWKS_URI', 'cannot be set together with AUTH_JWKS_FILE');
  // With an external identity provider, a token it issued for another application must not open this one.
  if ((jwksFile || jwksUri) && !str(env, 'AUTH_AUDIENCE')) {
    throw new ConfigError('AUTH_AUDIENCE', 'must be set when AUTH_JWKS_FILE or AUTH_JWKS_URI is set (the audience tokens for this engine carry)');
  }
  const dbName = str(env, 'MONGODB_DATABASE') ?? 'hl7engine';
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(dbName)) {
    throw new ConfigError('MONGODB_DATABASE', `must be 1-63 letters, digits, _ or -, got "${dbName}"`);
  }
  const bodyLimit = str(env, 'BODY_LIMIT');
  const host = str(env, 'HOST') ?? '0.0.0.0';
  const ingest = ingestConfig(env);
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    publicUrl: url(env, 'PUBLIC_URL', ['https:', 'http:'])?.replace(/\/+$/, ''),
    dataDir,
    mongodbUri,
    mongodbDatabase: dbName,
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    bodyLimitBytes: bodyLimit === undefined ? 10 * 1024 * 1024 : parseSize('BODY_LIMIT', bodyLimit),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    ingest,
    tenants: tenantsConfig(env),
    mllp: mllpConfig(env, host, ingest.messageMaxBytes),
    admin: adminCredentials(env),
    jobs: {
      pollIntervalMs: int(env, 'JOBS_POLL_INTERVAL_MS', 2_000, 50, 3_600_000),
      lockLifetimeMs: int(env, 'JOBS_LOCK_LIFETIME_MS', 600_000, 1_000, 86_400_000),
      etaSeconds: int(env, 'JOBS_ETA_SECONDS', 600, 1, 86_400),
    },
    encryption: parseEncryptionKeys(env),
    consultations: {
      sessionBaseUrl: url(env, 'CONSULTATION_SESSION_BASE_URL', ['https:', 'http:'])?.replace(/\/+$/, ''),
      reportSchedule: reportSchedule(env),
      streamHeartbeatMs: int(env, 'CONSULTATION_STREAM_HEARTBEAT_SECONDS', 15, 1, 300) * 1000,
      streamPollMs: int(env, 'CONSULTATION_STREAM_POLL_MS', 500, 20, 60_000),
    },
    notifications: notificationsConfig(env),
    auth: {
      jwksFile: jwksFile ? path.resolve(jwksFile) : undefined,
      jwksUri,
      issuer: str(env, 'AUTH_ISSUER'),
      audience: str(env, 'AUTH_AUDIENCE'),
    },
    signature: signatureConfig(env),
    carePlans: carePlansConfig(env),
    registries: { cacheCheckMs: int(env, 'REGISTRY_CACHE_CHECK_MS', 1_000, 0, 3_600_000) },
    dictionaries: {
      dir: path.resolve(str(env, 'DICTIONARIES_DIR') ?? projectPath('dictionaries')),
      cacheCheckMs: int(env, 'DICTIONARY_CACHE_CHECK_MS', 1_000, 0, 3_600_000),
      uploadLimitBytes: parseSize('DICTIONARY_UPLOAD_LIMIT', str(env, 'DICTIONARY_UPLOAD_LIMIT') ?? '32mb'),
      versionsKept: int(env, 'DICTIONARY_VERSIONS_KEPT', 20, 2, 10_000),
      canonicalBase: (url(env, 'DICTIONARY_CANONICAL_BASE', ['https:', 'http:']) ?? 'https://hl7-engine.example/fhir').replace(/\/+$/, ''),
    },
    fhir: { baseUrl: url(env, 'FHIR_BASE_URL', ['https:', 'http:'])?.replace(/\/+$/, '') },
  };
}
