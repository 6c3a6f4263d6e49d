/**
 * The dependency rules of src/ (checked in CI by `npm run deps`): no import cycles, and every folder imports only the
 * layers beneath it. From the bottom up:
 *
 *   lib/          pure code (signatures, XML, identifiers, crypto, FHIR systems): imports nothing of the engine
 *   platform/     infrastructure (database, config, logging, metrics, auth, tenancy, HTTP helpers, storage)
 *   fhir-store/ jobs/ dictionaries/ registries/ mapping/   stores and engines that know no concern above them
 *   fhir-api/ ingest/ notifications/   serving FHIR, ingesting messages, delivering notices
 *   careplans/ consultations/ billing/   the domains
 *   app/          the composition root: builds everything; only main.ts and cli/ import it
 *   cli/ main.ts  entry points
 */
const layer = (name, allowed) => ({
  name: `layer-${name.replace(/[^a-z]/g, '-')}`,
  comment: `src/${name}/ imports only ${allowed.length ? allowed.join(', ') : 'itself'} (and itself)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

const BASE = ['lib', 'platform'];
const STORES = ['fhir-store', 'jobs', 'dictionaries', 'registries', 'mapping'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle: one of its modules has to give up its import (usually by taking a narrow port instead)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'only-entry-points-import-app',
      comment: 'src/app/ is the composition root: only src/main.ts and src/cli/ import it',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/app/', '^src/cli/', '^src/main\\.ts$'] },
      to: { path: '^src/app/' },
    },
    layer('lib', []),
    layer('platform', ['lib']),
    layer('fhir-store', BASE),
    layer('jobs', BASE),
    layer('dictionaries', BASE),
    layer('registries', BASE),
    layer('mapping', BASE),
    layer('fhir-api', [...BASE, 'fhir-store', 'dictionaries']),
    layer('ingest', [...BASE, ...STORES]),
    layer('notifications', [...BASE, ...STORES]),
    layer('careplans', [...BASE, ...STORES]),
    layer('billing', [...BASE, ...STORES]),
    layer('consultations', [...BASE, ...STORES, 'notifications', 'billing']),
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      comment: 'an import that does not resolve (types-only packages and the tsx loader of the worker shims aside)',
      to: { couldNotResolve: true, pathNot: ['^@medplum/fhirtypes$', '^tsx/esm/api$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
