/**
 * A private redis-server for the queue tests: loopback only, a free port (never 6379), its data
 * (append-only file, fsynced on every write) in a temp dir, so a restart keeps what was written
 * before it, the way a production Redis with AOF does. Optional password and TLS.
 * Every wait is bounded in time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Skip (or fail on CI) when Debian's redis-server is not installed. */
export function requireRedis(ctx: Mocha.Context): void {
  if (fs.existsSync(REDIS_SERVER)) return;
  if (process.env.CI) throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server package (CI requires the queue tests)`);
  ctx.skip();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  password?: string;
  /** Serve TLS only (no plain port), with a self-signed certificate for 127.0.0.1 made here. */
  tls?: boolean;
}

export class RedisServer {
  private proc: ChildProcess | null = null;
  private log = '';
  readonly dir: string;
  port = 0;
  /** PEM file of the self-signed certificate (tls only): the CA a client must trust. */
  caFile = '';

  private constructor(private readonly opts: RedisServerOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-redis-'));
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const s = new RedisServer(opts);
    if (opts.tls) s.makeCertificate();
    s.port = await freePort();
    if (s.port === 6379) s.port = await freePort();
    await s.launch();
    return s;
  }

  /** redis:// (or rediss://) URL, with the password when there is one. */
  url(withPassword = true): string {
    const auth = this.opts.password && withPassword ? `:${encodeURIComponent(this.opts.password)}@` : '';
    return `${this.opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.log;
  }

  private makeCertificate(): void {
    const key = path.join(this.dir, 'key.pem');
    this.caFile = path.join(this.dir, 'cert.pem');
    const r = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', this.caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  }

  private args(): string[] {
    const a = [
      '--bind', '127.0.0.1',
      '--protected-mode', 'yes',
      '--dir', this.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--save', '',
      '--daemonize', 'no',
      '--loglevel', 'notice',
    ];
    if (this.opts.tls) {
      a.push('--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.caFile, '--tls-key-file', path.join(this.dir, 'key.pem'), '--tls-auth-clients', 'no');
    } else {
      a.push('--port', String(this.port));
    }
    if (this.opts.password) a.push('--requirepass', this.opts.password);
    return a;
  }

  private async launch(): Promise<void> {
    const proc = spawn(REDIS_SERVER, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${this.log}`)), 10_000);
      const onData = (b: Buffer) => {
        this.log += b.toString();
        if (this.log.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${this.log}`));
      });
    });
    try {
      await ready;
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    this.log = '';
  }

  /** Stop the server (SIGTERM: it flushes the append-only file) and wait for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stop, stay down for `downMs`, start again on the same port with the same data. */
  async restart(downMs = 1000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  /** Stop and remove the data dir. */
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
