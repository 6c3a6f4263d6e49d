/**
 * Raw HTTP for hostile-input tests: every header and byte of the path as given (fetch would normalise some).
 */
import http from 'node:http';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: any;
  ms: number;
}

export function rawRequest(
  baseUrl: string,
  opts: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent },
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: opts.method, path: opts.path, headers: opts.headers, agent: opts.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The shape of an answer's body: which of the engine's documented error bodies it is. */
export function bodyKind(json: any): 'OperationOutcome' | 'envelope' | 'error' | 'other' {
  if (json?.resourceType === 'OperationOutcome' && Array.isArray(json.issue)) return 'OperationOutcome';
  if (json?.meta && typeof json.meta.code === 'number' && typeof json.error?.type === 'string') return 'envelope';
  if (json && typeof json.error?.type === 'string' && typeof json.error?.message === 'string' && !json.meta) return 'error';
  return 'other';
}
