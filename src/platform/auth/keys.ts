/**
 * Keys that bearer tokens are verified against: a JWKS file (AUTH_JWKS_FILE), a JWKS URL (AUTH_JWKS_URI), or, in the
 * embedded default, a local ES256 key pair generated once in the data directory (`<DATA_DIR>/auth/`), which
 * `npm run token` signs with so every flow can be tried without an identity provider.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/config.js';

const LOCAL_ISSUER = 'urn:hl7-engine:local';
const PRIVATE_FILE = 'local-signing-key.jwk.json';
const PUBLIC_FILE = 'local-jwks.json';

export interface KeySource {
  getKey: JWTVerifyGetKey;
  /** 'file', 'uri' or 'local' (the generated key pair). */
  mode: 'file' | 'uri' | 'local';
}

export async function loadKeySource(config: Pick<Config, 'auth' | 'dataDir'>): Promise<KeySource> {
  if (config.auth.jwksFile) {
    const jwks = JSON.parse(fs.readFileSync(config.auth.jwksFile, 'utf8')) as { keys: JWK[] };
    return { mode: 'file', getKey: createLocalJWKSet(jwks) };
  }
  if (config.auth.jwksUri) {
    return { mode: 'uri', getKey: createRemoteJWKSet(new URL(config.auth.jwksUri)) };
  }
  const { publicJwk } = await loadOrCreateLocalKey(config.dataDir);
  return { mode: 'local', getKey: createLocalJWKSet({ keys: [publicJwk] }) };
}

interface LocalKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Reads the local key pair, creating it (race-safe: exclusive create) when absent. */
async function loadOrCreateLocalKey(dataDir: string): Promise<LocalKey> {
  const dir = path.join(dataDir, 'auth');
  const privatePath = path.join(dir, PRIVATE_FILE);
  if (!fs.existsSync(privatePath)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    privateJwk.kid = `local-${Date.now().toString(36)}`;
    privateJwk.alg = 'ES256';
    privateJwk.use = 'sig';
    try {
      fs.writeFileSync(privatePath, JSON.stringify(privateJwk, null, 2), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const privateJwk = JSON.parse(fs.readFileSync(privatePath, 'utf8')) as JWK;
  const { d: _d, ...publicJwk } = privateJwk;
  fs.writeFileSync(path.join(dir, PUBLIC_FILE), JSON.stringify({ keys: [publicJwk] }, null, 2));
  return { privateJwk, publicJwk };
}

interface TokenRequest {
  sub: string;
  scope: string;
  clientId?: string;
  /** Lifetime such as "1h", "30m" (jose time span). */
  expiresIn?: string;
}

/** Signs a token with the local key pair (embedded default mode only). */
export async function mintLocalToken(dataDir: string, req: TokenRequest): Promise<string> {
  const { privateJwk } = await loadOrCreateLocalKey(dataDir);
  const key = await importJWK(privateJwk, 'ES256');
  const claims: Record<string, string> = { scope: req.scope };
  if (req.clientId) claims.client_id = req.clientId;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid, typ: 'JWT' })
    .setSubject(req.sub)
    .setIssuer(LOCAL_ISSUER)
    .setIssuedAt()
    .setExpirationTime(req.expiresIn ?? '1h')
    .sign(key);
}
