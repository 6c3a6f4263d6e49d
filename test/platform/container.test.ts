/**
 * The container files, read as text (no Docker engine runs on the development machines): the image creates and owns
 * /data before declaring the volume, runs as a fixed non-root uid, checks /readyz; the compose file keeps MongoDB a
 * replica set; every variable the compose file sets (or shows commented out) is one the configuration reads.
 */
import fs from 'node:fs';
import { expect } from 'chai';
import { loadConfig } from '../../src/platform/config/config.js';
import { projectPath } from '../../src/platform/paths.js';

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\S+)\s+([\s\S]*)$/.exec(l)!;
      return { op: m[1].toUpperCase(), args: m[2] };
    });
}

/** The `environment:` block of one compose service: variable names, set or commented out. */
function composeVariables(text: string, service: string): { set: string[]; commented: string[] } {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^  ${service}:\\s*$`).test(l));
  expect(start, `service ${service} in docker-compose.yml`).to.be.greaterThan(-1);
  const envAt = lines.findIndex((l, i) => i > start && /^ {4}environment:\s*$/.test(l));
  const set: string[] = [];
  const commented: string[] = [];
  for (let i = envAt + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    if (!/^ {6}/.test(line)) break; // the next key of the service
    const m = /^ {6}(#\s*)?([A-Z][A-Z0-9_]*):/.exec(line);
    if (m) (m[1] ? commented : set).push(m[2]);
  }
  return { set, commented };
}

/** The variables loadConfig reads, recorded while it reads an empty environment. */
function variablesTheConfigurationReads(): Set<string> {
  const read = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_t, key) {
      if (typeof key === 'string') read.add(key);
      return undefined;
    },
  });
  loadConfig(env);
  return read;
}

describe('container: Dockerfile and docker-compose.yml', () => {
  const dockerfile = instructions(fs.readFileSync(projectPath('Dockerfile'), 'utf8'));
  const compose = fs.readFileSync(projectPath('docker-compose.yml'), 'utf8');

  it('creates /data and gives it to the engine user before VOLUME ["/data"]', () => {
    const volumeAt = dockerfile.findIndex((i) => i.op === 'VOLUME');
    expect(volumeAt).to.be.greaterThan(-1);
    expect(JSON.parse(dockerfile[volumeAt].args)).to.deep.equal(['/data']);
    const before = dockerfile.slice(0, volumeAt).filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(before).to.match(/mkdir -p \/data\b/);
    const user = dockerfile.find((i) => i.op === 'USER')!.args;
    const [uid, gid] = user.split(':');
    expect(before).to.match(new RegExp(`chown ${uid}:${gid} /data\\b`));
    expect(dockerfile.find((i) => i.op === 'ENV')!.args).to.match(/\bDATA_DIR=\/data\b/);
  });

  it('runs as a non-root user with a fixed uid, created in the image', () => {
    const users = dockerfile.filter((i) => i.op === 'USER');
    expect(users).to.have.length(1);
    const m = /^(\d+):(\d+)$/.exec(users[0].args);
    expect(m, `USER ${users[0].args} names a numeric uid:gid`).to.not.equal(null);
    expect(Number(m![1])).to.be.greaterThan(0);
    expect(Number(m![2])).to.be.greaterThan(0);
    const runs = dockerfile.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ');
    expect(runs).to.match(new RegExp(`useradd [^&]*--uid ${m![1]}\\b`));
    expect(runs).to.match(new RegExp(`groupadd [^&]*--gid ${m![2]}\\b`));
    // the user switch comes after every RUN that needs root, and before the command
    const userAt = dockerfile.indexOf(users[0]);
    expect(dockerfile.slice(userAt).some((i) => i.op === 'RUN')).to.equal(false);
    expect(dockerfile.findIndex((i) => i.op === 'CMD')).to.be.greaterThan(userAt);
  });

  it('has a HEALTHCHECK on /readyz', () => {
    const checks = dockerfile.filter((i) => i.op === 'HEALTHCHECK');
    expect(checks).to.have.length(1);
    expect(checks[0].args).to.match(/CMD .*\/readyz/);
  });

  it('keeps MongoDB a replica set and the engine connects to it as one', () => {
    expect(compose).to.match(/image: mongo:\d/);
    expect(compose).to.match(/command: \[[^\]]*"--replSet", "rs0"/);
    expect(compose).to.match(/rs\.initiate\(\{_id: 'rs0'/);
    expect(compose).to.match(/MONGODB_URI: mongodb:\/\/mongo:27017\/\?replicaSet=rs0/);
    expect(compose).to.match(/- engine-data:\/data\b/);
  });

  it('sets only variables the configuration reads (src/platform/config/)', () => {
    const known = variablesTheConfigurationReads();
    expect(known.has('PORT') && known.has('MONGODB_URI')).to.equal(true); // the recording works
    const { set, commented } = composeVariables(compose, 'engine');
    expect(set.length).to.be.greaterThan(10);
    const unknown = [...set, ...commented].filter((v) => !known.has(v));
    expect(unknown, 'variables in docker-compose.yml that src/platform/config/ does not read').to.deep.equal([]);
  });
});
