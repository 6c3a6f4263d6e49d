import { Writable } from 'node:stream';
import { expect } from 'chai';
import { configureLogger, maskPersonalData } from '../../src/platform/logging/logger.js';

describe('logs carry no personal data from error texts', () => {
  it('masks quoted values, e-mail addresses and long digit runs', () => {
    const masked = maskPersonalData(
      'E11000 duplicate key error collection: x.fhir_Patient index: _id_ dup key: { _id: "01016400952" } ' +
        "name 'Line Danser' mail line.danser@example.com phone +47 123 45 678, version 12, port 27017",
    );
    expect(masked).to.not.match(/01016400952|Line Danser|line\.danser|123 45 678/);
    expect(masked).to.include('version 12').and.to.include('E11000');
  });

  it('applies to every err field a logger writes', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
    const logger = configureLogger('info', sink);
    logger.error({ err: new Error('dup key: { pid: "13116900216" }') }, 'failed');
    logger.error({ err: { message: 'patient 13116900216 not found' } }, 'failed');
    configureLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    expect(lines).to.have.length(2);
    for (const line of lines) expect(line).to.not.include('13116900216');
  });
});
