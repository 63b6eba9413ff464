import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { downloadFile, hashFile } from '../../src/data/download.js';
import { UserError } from '../../src/errors.js';
import { md5, serveBody, startServer, tempDir } from './helpers.js';

async function rejection(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  expect.fail('expected a UserError');
}

const exists = (p: string): Promise<boolean> =>
  fs.stat(p).then(
    () => true,
    () => false,
  );

describe('data/download', () => {
  const body = randomBytes(300_000);
  const bodyMd5 = md5(body);
  let dir: string;

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('hashFile gives the md5 and sha256 of a file', async () => {
    const f = path.join(dir, 'x.bin');
    await fs.writeFile(f, body);
    expect(await hashFile(f, 'md5')).to.equal(bodyMd5);
    expect(await hashFile(f, 'sha256')).to.equal(createHash('sha256').update(body).digest('hex'));
  });

  it('downloads, verifies md5 and sha256, reports progress, leaves no .part', async () => {
    const srv = await startServer((req, res) => serveBody(res, req, body));
    try {
      const dest = path.join(dir, 'sub', 'file.bin');
      const seen: [number, number | undefined][] = [];
      await downloadFile(`${srv.base}/file.bin`, dest, {
        md5: bodyMd5,
        sha256: createHash('sha256').update(body).digest('hex'),
        expectedSize: body.length,
        quiet: true,
        onProgress: (d, t) => seen.push([d, t]),
      });
      expect(Buffer.compare(await fs.readFile(dest), body)).to.equal(0);
      expect(await exists(`${dest}.part`)).to.equal(false);
      expect(seen.at(-1)).to.deep.equal([body.length, body.length]);
      expect(srv.requests).to.have.length(1);
      expect(srv.requests[0].range).to.equal(undefined);
    } finally {
      await srv.close();
    }
  });

  it('follows redirects', async () => {
    const srv = await startServer((req, res) => {
      if (req.url === '/old') {
        res.writeHead(302, { Location: '/new' });
        res.end();
      } else serveBody(res, req, body);
    });
    try {
      const dest = path.join(dir, 'r.bin');
      await downloadFile(`${srv.base}/old`, dest, { md5: bodyMd5, quiet: true });
      expect(md5(await fs.readFile(dest))).to.equal(bodyMd5);
      expect(srv.requests.map((r) => r.url)).to.deep.equal(['/old', '/new']);
    } finally {
      await srv.close();
    }
  });

  it('resumes automatically with a Range request after the connection is cut mid-body', async () => {
    const cut = 100_000;
    const srv = await startServer((req, res, i) => serveBody(res, req, body, { cutAfter: i === 0 ? cut : undefined }));
    try {
      const dest = path.join(dir, 'resume.bin');
      await downloadFile(`${srv.base}/f`, dest, { md5: bodyMd5, quiet: true });
      expect(srv.requests).to.have.length(2);
      const m = /^bytes=(\d+)-$/.exec(srv.requests[1].range ?? '');
      expect(m, `second request Range header: ${srv.requests[1].range}`).to.not.equal(null);
      const start = Number(m?.[1]);
      expect(start).to.be.greaterThan(0).and.at.most(cut);
      expect(md5(await fs.readFile(dest))).to.equal(bodyMd5);
    } finally {
      await srv.close();
    }
  });

  it('keeps the .part when retries are exhausted, and a later call resumes it', async () => {
    const cut = 120_000;
    const srv = await startServer((req, res, i) => serveBody(res, req, body, { cutAfter: i === 0 ? cut : undefined }));
    try {
      const dest = path.join(dir, 'later.bin');
      const err = await rejection(downloadFile(`${srv.base}/f`, dest, { md5: bodyMd5, quiet: true, retries: 0 }));
      expect(err.message).to.contain(`${srv.base}/f`).and.contain('interrupted');
      expect(await exists(dest)).to.equal(false);
      const partSize = (await fs.stat(`${dest}.part`)).size;
      expect(partSize).to.be.greaterThan(0).and.at.most(cut);
      expect(Buffer.compare(await fs.readFile(`${dest}.part`), body.subarray(0, partSize))).to.equal(0);

      await downloadFile(`${srv.base}/f`, dest, { md5: bodyMd5, quiet: true, retries: 0 });
      expect(srv.requests[1].range).to.equal(`bytes=${partSize}-`);
      expect(md5(await fs.readFile(dest))).to.equal(bodyMd5);
      expect(await exists(`${dest}.part`)).to.equal(false);
    } finally {
      await srv.close();
    }
  });

  it('restarts from zero when the server ignores Range and answers 200', async () => {
    const srv = await startServer((req, res) => serveBody(res, req, body, { ignoreRange: true }));
    try {
      const dest = path.join(dir, 'norange.bin');
      await fs.writeFile(`${dest}.part`, body.subarray(0, 5000));
      await downloadFile(`${srv.base}/f`, dest, { md5: bodyMd5, quiet: true });
      expect(srv.requests[0].range).to.equal('bytes=5000-');
      expect(md5(await fs.readFile(dest))).to.equal(bodyMd5);
    } finally {
      await srv.close();
    }
  });

  it('checksum mismatch: names the URL and both hashes, leaves no file behind', async () => {
    const srv = await startServer((req, res) => serveBody(res, req, body));
    try {
      const dest = path.join(dir, 'bad.bin');
      const wrong = '0123456789abcdef0123456789abcdef';
      const err = await rejection(downloadFile(`${srv.base}/bad.bin`, dest, { md5: wrong, quiet: true }));
      expect(err.message).to.contain(`${srv.base}/bad.bin`).and.contain(wrong).and.contain(bodyMd5);
      expect(await exists(dest)).to.equal(false);
      expect(await exists(`${dest}.part`)).to.equal(false);
    } finally {
      await srv.close();
    }
  });

  it('wrong size: clear error, no file', async () => {
    const srv = await startServer((req, res) => serveBody(res, req, body));
    try {
      const dest = path.join(dir, 'size.bin');
      const err = await rejection(downloadFile(`${srv.base}/f`, dest, { expectedSize: body.length + 1, quiet: true }));
      expect(err.message).to.contain(String(body.length + 1));
      expect(await exists(dest)).to.equal(false);
    } finally {
      await srv.close();
    }
  });

  it('404: UserError naming the URL and suggesting a local copy', async () => {
    const srv = await startServer((_req, res) => {
      res.writeHead(404);
      res.end('nope');
    });
    try {
      const dest = path.join(dir, 'missing.bin');
      const err = await rejection(downloadFile(`${srv.base}/missing.bin`, dest, { quiet: true }));
      expect(err.message).to.contain(`${srv.base}/missing.bin`).and.contain('404');
      expect(err.hint).to.contain('--data-dir').and.contain('CL_DATA_DIR');
      expect(await exists(dest)).to.equal(false);
    } finally {
      await srv.close();
    }
  });

  it('network error (connection refused): UserError naming the URL', async () => {
    const srv = await startServer(() => undefined);
    const base = srv.base;
    await srv.close(); // nothing listens on that port any more
    const err = await rejection(downloadFile(`${base}/x`, path.join(dir, 'x'), { quiet: true }));
    expect(err.message).to.contain(`${base}/x`);
    expect(err.hint).to.contain('--data-dir');
  });
});
