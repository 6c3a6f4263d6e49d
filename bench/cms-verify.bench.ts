/**
 * CMS signature verification throughput: verifySignedData (in process, full check: parse, chain of 2 certificates,
 * CRL, signature, messageDigest) vs `openssl cms -verify` on the same signatures and the same trust material.
 *
 * OpenSSL's figure is its per-process rate (N sequential `openssl cms -verify` invocations), which is how a shell-out
 * would perform. `openssl speed` (raw RSA/ECDSA verify operations per second, no parsing, no chain) is printed for
 * context only; it is not comparable to a full CMS verification.
 */
import { execFile, execFileSync } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { clearVerifierCaches, createTrustStore, verifySignedData, type TrustStore } from '../src/lib/signature/index.js';
import { buildCorpus, OPENSSL } from '../test/lib/signature/corpus.js';

export const title = 'CMS signature verification: verifySignedData vs openssl cms -verify (RSA-2048, ECDSA P-256)';

const run$ = promisify(execFile);
const DURATION_MS = Number(process.env.BENCH_CMS_MS ?? 2000);
const OPENSSL_RUNS = Number(process.env.BENCH_CMS_OPENSSL_RUNS ?? 30);

/**
 * Verifications per second. `cold`: the key and certificate-signature caches are emptied before every verification
 * (a signer and intermediate never seen before: 3 key decodings + 3 signature checks, as openssl does each time).
 */
async function ours(der: Buffer, trust: TrustStore, concurrency: number, cold = false): Promise<number> {
  for (let i = 0; i < 50; i++) await verifySignedData(der, { trust }); // warm-up
  let n = 0;
  const start = performance.now();
  const deadline = start + DURATION_MS;
  const worker = async () => {
    while (performance.now() < deadline) {
      if (cold) clearVerifierCaches();
      const v = await verifySignedData(der, { trust });
      if (!v.valid) throw new Error(`benchmark signature did not verify: ${v.code} ${v.message}`);
      n++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / ((performance.now() - start) / 1000);
}

async function opensslPerProcess(dir: string, file: string): Promise<number> {
  const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', file, '-CAfile', 'root-and-crl.pem', '-crl_check', '-purpose', 'any', '-out', os.devNull];
  await run$(OPENSSL, args, { cwd: dir }); // warm the page cache; also proves openssl accepts it
  const start = performance.now();
  for (let i = 0; i < OPENSSL_RUNS; i++) await run$(OPENSSL, args, { cwd: dir });
  return OPENSSL_RUNS / ((performance.now() - start) / 1000);
}

function opensslSpeed(): Record<string, number> {
  try {
    const out = execFileSync(OPENSSL, ['speed', '-seconds', '1', 'rsa2048', 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rsa = /^rsa 2048 bits\s+\S+\s+\S+\s+(\S+)\s+(\S+)/m.exec(out);
    const ec = /^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+(\S+)\s+(\S+)/m.exec(out);
    return { rsa2048VerifyOpsPerSecond: rsa ? Number(rsa[2]) : NaN, p256VerifyOpsPerSecond: ec ? Number(ec[2]) : NaN };
  } catch {
    return {};
  }
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export async function run(): Promise<Record<string, unknown>> {
  const corpus = await buildCorpus();
  try {
    const trust = createTrustStore({ anchors: corpus.rootPem, crls: [corpus.crlPem] });
    const figures: Record<string, unknown> = {};
    for (const [label, file] of [
      ['rsa2048', 'rsa-attached.der'],
      ['p256', 'ec-attached.der'],
    ] as const) {
      const der = corpus.read(file);
      const cold = await ours(der, trust, 1, true);
      const sequential = await ours(der, trust, 1);
      const concurrent = await ours(der, trust, 8);
      const openssl = await opensslPerProcess(corpus.dir, file);
      figures[`${label}VerificationsPerSecondCold`] = r1(cold);
      figures[`${label}VerificationsPerSecond`] = r1(sequential);
      figures[`${label}VerificationsPerSecondConcurrent8`] = r1(concurrent);
      figures[`${label}OpensslPerProcessPerSecond`] = r1(openssl);
      // the target is judged on the cold path: no benefit from the caches
      figures[`${label}RatioToOpenssl`] = Number((cold / openssl).toFixed(2));
      console.log(
        `  ${label}: verifySignedData ${r1(cold)}/s cold, ${r1(sequential)}/s warm, ${r1(concurrent)}/s warm x8; ` +
          `openssl cms -verify ${r1(openssl)}/s per process`,
      );
    }
    figures.targetRatio = 0.5;
    figures.meetsTarget = (figures.rsa2048RatioToOpenssl as number) >= 0.5 && (figures.p256RatioToOpenssl as number) >= 0.5;
    figures.opensslSpeedRawOpsNotComparable = opensslSpeed();
    figures.signatureBytes = { rsa2048: corpus.read('rsa-attached.der').length, p256: corpus.read('ec-attached.der').length };
    return figures;
  } finally {
    corpus.cleanup();
  }
}
