import { expect } from 'chai';
import { decodeXml, parseXmlTree, rejectDtd, XmlInputError } from '../../src/lib/xml/secure-xml.js';
import { readShared } from '../support/shared.js';

const SAMPLE = 'Henvisning_ny_tilstand_v2-0_Ny.xml';
const sample = () => readShared('fixtures', 'ehelse', 'samples', 'henvisning-v2.0', SAMPLE);

/** The same message with every MsgHead element prefixed `mh:` and every Henvisning element prefixed `hv:`. */
function prefixed(text: string): string {
  const start = text.indexOf('<Content>') + '<Content>'.length;
  const end = text.indexOf('</Content>');
  const head = text.slice(0, start).replace(/<(\/?)([A-Za-z]\w*)(?=[\s>/])/g, '<$1mh:$2');
  const body = text
    .slice(start, end)
    .replace(/<(\/?)([A-Za-z]\w*)(?=[\s>/])/g, '<$1hv:$2')
    .replace('xmlns="http://ehelse.no/xmlstds/henvisning/2017-11-30"', 'xmlns:hv="http://ehelse.no/xmlstds/henvisning/2017-11-30"');
  const tail = text.slice(end).replace(/<(\/?)([A-Za-z]\w*)(?=[\s>/])/g, '<$1mh:$2');
  return (head + body + tail).replace('xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"', 'xmlns:mh="http://www.kith.no/xmlstds/msghead/2006-05-24"');
}

describe('hardened XML reading', () => {
  it('keeps identifiers as strings (leading zeros, digits only)', () => {
    const xml = '<?xml version="1.0"?><a><Id>01016400952</Id><N V="007"/><B>true</B></a>';
    const { node } = parseXmlTree(decodeXml(Buffer.from(xml), 1e6).text);
    expect(node).to.deep.equal({ Id: '01016400952', N: { V: '007' }, B: 'true' });
  });

  it('decodes by the declared encoding: ISO-8859-1 bytes give the same text as UTF-8', () => {
    const utf8 = '<?xml version="1.0" encoding="UTF-8"?><a>Kåfri sykehus, Bærum, Øst</a>';
    const latin1 = Buffer.from(utf8.replace('UTF-8', 'ISO-8859-1'), 'latin1');
    expect(latin1.includes(Buffer.from('å'))).to.equal(false);
    const t1 = parseXmlTree(decodeXml(Buffer.from(utf8), 1e6).text).node;
    const t2 = parseXmlTree(decodeXml(latin1, 1e6).text).node;
    expect(t2).to.equal(t1).and.to.equal('Kåfri sykehus, Bærum, Øst');
  });

  it('strips a UTF-8 byte-order mark and normalises CR and CRLF line ends', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<?xml version="1.0" encoding="utf-8"?>\r<a>\r\n<b>x\ry</b>\r</a>')]);
    const d = decodeXml(bom, 1e6);
    expect(d.encoding).to.equal('utf-8');
    expect(d.text.includes('\r')).to.equal(false);
    expect(parseXmlTree(d.text).node).to.deep.equal({ b: 'x\ny' });
  });

  it('refuses bytes that do not match the declared encoding, and oversized input', () => {
    const bad = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="UTF-8"?><a>'), Buffer.from([0xe5]), Buffer.from('</a>')]);
    expect(() => decodeXml(bad, 1e6)).to.throw(XmlInputError).with.property('kind', 'encoding');
    expect(() => decodeXml(Buffer.alloc(2000, 0x20), 1000)).to.throw(XmlInputError).with.property('kind', 'too_large');
  });

  it('refuses DOCTYPE and ENTITY declarations (XXE, billion laughs) before parsing', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>';
    const lol = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>';
    for (const x of [xxe, lol]) expect(() => rejectDtd(x)).to.throw(XmlInputError).with.property('kind', 'dtd');
  });

  it('resolves namespaces by URI: prefixed and default-namespace forms of a message give the same tree', () => {
    const text = decodeXml(sample(), 1e7).text;
    const alt = prefixed(text);
    expect(alt).to.include('<mh:MsgInfo>').and.include('<hv:DocumentId>');
    const a = parseXmlTree(text);
    const b = parseXmlTree(alt);
    expect(b.ns).to.equal('http://www.kith.no/xmlstds/msghead/2006-05-24');
    expect(b.node).to.deep.equal(a.node);
  });

  it('refuses unbound prefixes', () => {
    expect(() => parseXmlTree('<x:a xmlns:y="urn:y"><x:b/></x:a>')).to.throw(XmlInputError);
  });
});
