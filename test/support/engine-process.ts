/**
 * An engine in its own process (`node --import tsx src/main.ts`, as `npm run dev` runs it), for tests that kill or
 * race engines. Resolves with its URL once it logs "engine listening"; the caller stops it by the returned PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export function startEngineProcess(env: Record<string, string>, children: ChildProcess[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${out.slice(-2000)}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)[^\n]*engine listening/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before listening: ${out.slice(-2000)}`));
    });
  });
}
