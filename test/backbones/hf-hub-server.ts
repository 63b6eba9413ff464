/**
 * Test helper: a local HTTP server with the Hugging Face hub's download layout and headers.
 *
 *   HEAD/GET /<owner>/<name>/resolve/<revision>/<file>
 *     LFS file:   302 to <cdn>/cdn/<sha256> (a second port: another host) with x-repo-commit, x-linked-etag "<sha256>", x-linked-size, etag
 *     small file: 200 with the body, etag "<40-hex git blob id>", x-repo-commit
 *     missing:    404 with x-error-code RepoNotFound / RevisionNotFound / EntryNotFound (+ x-repo-commit)
 *   GET /cdn/<sha256>   the LFS body, honouring `Range: bytes=<start>-` (206)
 *
 * Faults for tests: `cutAfter` (close the socket after that many body bytes, for the next `cuts`
 * CDN responses), `corrupt` / `corruptSmall` (serve an LFS / small body with the right length but
 * flipped bytes).
 */
import { reshapeModel } from './tiny-onnx.js';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFile {
  body: Buffer;
  lfs: boolean;
}

export interface HubRepo {
  commit: string;
  files: Map<string, HubFile>;
}

export class HubServer {
  readonly repos = new Map<string, HubRepo>();
  /** Every request: method, url and Range header. */
  readonly log: { method: string; url: string; range?: string }[] = [];
  cutAfter = 0;
  cuts = 0;
  corrupt = false;
  /** Serve small (non-LFS) files with flipped bytes (their etag stays the true git blob id). */
  corruptSmall = false;
  private server: http.Server | null = null;
  /** A second listener standing for the CDN: the hub redirects LFS files to another host. */
  private cdnServer: http.Server | null = null;
  endpoint = '';
  cdn = '';

  addRepo(repo: string, commit: string, files: Record<string, { body: Buffer | string; lfs?: boolean }>): void {
    const m = new Map<string, HubFile>();
    for (const [p, f] of Object.entries(files)) m.set(p, { body: Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body), lfs: f.lfs ?? false });
    this.repos.set(repo, { commit, files: m });
  }

  async start(): Promise<string> {
    const listen = async (): Promise<[http.Server, string]> => {
      const srv = http.createServer((req, res) => this.handle(req, res));
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      return [srv, `http://127.0.0.1:${(srv.address() as AddressInfo).port}`];
    };
    [this.server, this.endpoint] = await listen();
    [this.cdnServer, this.cdn] = await listen();
    // Another host name for the same machine: huggingface_hub follows redirects to the same host name only.
    this.cdn = this.cdn.replace('127.0.0.1', 'localhost');
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const srv of [this.server, this.cdnServer]) {
      srv?.closeAllConnections();
      await new Promise<void>((resolve) => (srv ? srv.close(() => resolve()) : resolve()));
    }
    this.server = null;
    this.cdnServer = null;
  }

  private lfsBody(sha: string): Buffer | undefined {
    for (const r of this.repos.values()) for (const f of r.files.values()) if (f.lfs && sha256(f.body) === sha) return f.body;
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = decodeURIComponent(req.url ?? '/');
    this.log.push({ method: req.method ?? 'GET', url, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url);
    if (cdn) return this.serveCdn(req, res, cdn[1]);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const notFound = (code: string, commit?: string): void => {
      res.writeHead(404, { 'x-error-code': code, 'content-type': 'text/plain', ...(commit ? { 'x-repo-commit': commit } : {}) });
      res.end(code);
    };
    if (!m) return notFound('EntryNotFound');
    const repo = this.repos.get(m[1]);
    if (!repo) return notFound('RepoNotFound');
    if (m[2] !== 'main' && m[2] !== repo.commit) return notFound('RevisionNotFound');
    const file = repo.files.get(m[3]);
    if (!file) return notFound('EntryNotFound', repo.commit); // the hub names the commit it looked in
    if (file.lfs) {
      const sha = sha256(file.body);
      res.writeHead(302, {
        location: `${this.cdn}/cdn/${sha}`, // another host, as the hub's CDN (huggingface_hub stops there for the metadata)
        'x-repo-commit': repo.commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(file.body.length),
        etag: `"${gitBlobId(file.body)}"`,
        'content-length': '0',
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'x-repo-commit': repo.commit, etag: `"${gitBlobId(file.body)}"`, 'content-length': String(file.body.length), 'content-type': 'application/json' });
    res.end(req.method === 'HEAD' ? undefined : this.corruptSmall ? Buffer.from(file.body.map((b) => b ^ 0xff)) : file.body);
  }

  private serveCdn(req: http.IncomingMessage, res: http.ServerResponse, sha: string): void {
    let body = this.lfsBody(sha);
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (this.corrupt) body = Buffer.from(body.map((b) => b ^ 0xff));
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) start = Number(range[1]);
    const part = body.subarray(start);
    const headers = { 'content-length': String(part.length), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    if (this.cuts > 0 && this.cutAfter < part.length) {
      this.cuts--;
      res.write(part.subarray(0, this.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(part);
  }
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** git's blob id (what the hub sends as etag of non-LFS files). */
export const gitBlobId = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/**
 * A ViT-shaped tiny ONNX model: pixels [N, 3, S, S] -> last_hidden_state = Reshape(pixels, [0, -1, 3]),
 * so token 0 (the "[CLS]" position) is the first three values of the R plane: R[0,0], R[0,1], R[0,2].
 * Built with tiny-onnx.ts's hand-encoded ModelProto.
 */
export function tinyVitModel(size: number): Buffer {
  return reshapeModel('pixel_values', ['batch_size', 3, size, size], 'last_hidden_state', [0, -1, 3], ['batch_size', size * size, 3]);
}
