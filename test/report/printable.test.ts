import { expect } from 'chai';
import { isPrintable, printable, printableDeep } from '../../src/report/printable.js';
import { escapeHtml } from '../../src/report/html.js';

describe('report/printable', () => {
  it('shows C0, DEL, C1 and bidi controls as visible escapes and leaves other text alone', () => {
    expect(printable('feat\u001b]0;pwned\u0007\u001b[2J')).to.equal('feat\\x1b]0;pwned\\x07\\x1b[2J');
    expect(printable('a\tb\nc\rd\u0000e\u007f')).to.equal('a\\tb\\nc\\rd\\x00e\\x7f');
    expect(printable('8-bit CSI \u009b2J, RLO \u202eabc, LRI \u2066')).to.equal('8-bit CSI \\x9b2J, RLO \\u202eabc, LRI \\u2066');
    const plain = 'ViT-B/16 «cls» ∑ é 日本 🙂 100 % — ok';
    expect(printable(plain)).to.equal(plain);
    expect(isPrintable(plain)).to.equal(true);
    expect(isPrintable('x\u001by')).to.equal(false);
    // Multi-line messages keep their line breaks, and only those.
    expect(printable('line 1\n  line\u001b[31m 2', { keepNewlines: true })).to.equal('line 1\n  line\\x1b[31m 2');
  });

  it('printableDeep copies plain objects and arrays, keys included, and keeps other values', () => {
    const x = new Float32Array([1, 2]);
    const src = { a: ['x\u001b', 1, null, x], 'k\u0007': { b: true, c: 'ok' } };
    const out = printableDeep(src);
    expect(out).to.deep.equal({ a: ['x\\x1b', 1, null, x], 'k\\x07': { b: true, c: 'ok' } });
    expect(out.a[3]).to.equal(x);
    expect(src.a[0]).to.equal('x\u001b'); // the input is not modified
  });

  it('escapeHtml escapes markup and shows control characters (invalid in XML 1.0) as visible escapes', () => {
    expect(escapeHtml('<b a="1">&\u001b[2J</b>')).to.equal('&lt;b a=&quot;1&quot;&gt;&amp;\\x1b[2J&lt;/b&gt;');
  });
});
