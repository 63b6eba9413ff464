/**
 * Where the job queue lives: a Redis URL (`--queue`, env CL_QUEUE) turned into ioredis options,
 * and the same URL with its password hidden for everything a person or a file sees.
 *
 *   redis://[user[:password]@]host[:port][/db]    plain TCP
 *   rediss://[user[:password]@]host[:port][/db]   TLS (server certificate checked against Node's CAs;
 *                                                  add a private CA with NODE_EXTRA_CA_CERTS=<pem file>)
 *   unix:/path/to/redis.sock[?db=N]               a local socket
 *
 * The password may also come from CL_QUEUE_PASSWORD, which keeps it out of the command line (and out
 * of `ps`). No password ever reaches a log line, an error message, a run record or the sweep's
 * stored command: `redact` replaces it, and `scrub` removes it from any text that might echo it.
 */
import net from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { UserError } from '../errors.js';

export interface QueueTarget {
  /** The URL as shown to people: the password replaced by `***`. */
  display: string;
  /** ioredis options (host/port or path, credentials, db, tls). */
  options: RedisOptions;
  /** Strings that must never be shown (the password). */
  secrets: string[];
}

export const URL_FORMS = 'redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:/path/to/redis.sock';

function badUrl(why: string): UserError {
  // Never echo the URL itself: it may hold a password.
  return new UserError(`the queue URL ${why}`, `give ${URL_FORMS}; the password may come from CL_QUEUE_PASSWORD instead`);
}

/** Parse a queue URL (and CL_QUEUE_PASSWORD from `env`). */
export function parseQueueUrl(raw: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw badUrl('is not a valid URL');
  }
  const envPassword = env.CL_QUEUE_PASSWORD || undefined;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : envPassword;
  const options: RedisOptions = {};
  if (username) options.username = username;
  if (password) options.password = password;
  const params = [...url.searchParams.keys()];
  const unknown = params.filter((k) => k !== 'db');
  if (unknown.length > 0) throw badUrl(`has parameters cl does not take (${unknown.map((k) => `"${k}"`).join(', ')}); only ?db=N`);
  const dbText = url.searchParams.get('db') ?? (url.protocol === 'unix:' ? '' : url.pathname.replace(/^\//, ''));
  if (dbText !== '') {
    if (!/^\d+$/.test(dbText)) throw badUrl(`names database "${dbText}"; a database is a number, e.g. /0`);
    options.db = Number(dbText);
  }
  let where: string;
  if (url.protocol === 'unix:') {
    if (!url.pathname || url.pathname === '/') throw badUrl('names no socket path (unix:/path/to/redis.sock)');
    options.path = decodeURIComponent(url.pathname);
    where = `unix:${options.path}`;
  } else if (url.protocol === 'redis:' || url.protocol === 'rediss:') {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!host) throw badUrl('names no host');
    options.host = host;
    options.port = url.port ? Number(url.port) : 6379;
    if (url.protocol === 'rediss:') {
      // SNI needs a name; for an IP the certificate's IP SAN is checked without it.
      options.tls = net.isIP(host) ? {} : { servername: host };
    }
    where = `${url.protocol}//${url.host}${options.db !== undefined ? `/${options.db}` : ''}`;
  } else {
    throw badUrl(`has the scheme "${url.protocol}"`);
  }
  const auth = username || url.password ? `${username ?? ''}${url.password ? ':***' : ''}@` : '';
  const display = url.protocol === 'unix:' ? where : where.replace('//', `//${auth}`);
  return { display, options, secrets: password ? [password, encodeURIComponent(password)] : [] };
}

/** The queue URL from --queue or CL_QUEUE; a UserError when neither is given. */
export function queueTarget(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  const raw = flag ?? env.CL_QUEUE;
  if (!raw) throw new UserError('no queue given', 'pass --queue redis://host:6379 (or set CL_QUEUE); see "Studies on several machines" in the README');
  return parseQueueUrl(raw, env);
}

/** Remove every secret from a text (error messages from the driver, the command line). */
export function scrub(text: string, target: Pick<QueueTarget, 'secrets'>): string {
  let out = text;
  for (const s of target.secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** The command line with any queue URL's password hidden (for what is stored and shown). */
export function redactArgv(argv: string[], target: Pick<QueueTarget, 'secrets'>): string[] {
  return argv.map((a) => scrub(a, target));
}

/**
 * A Redis client that rides out a restart of the server: it reconnects with a short back-off, and
 * commands wait for the connection instead of failing (BullMQ requires this of workers).
 */
export function createClient(target: QueueTarget, name: string): Redis {
  const client = new Redis({
    ...target.options,
    connectionName: name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: 10_000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
  });
  // Connection errors are reported by waitReady and by the BullMQ objects on top; without a listener
  // ioredis would print each one with a stack trace.
  client.on('error', () => undefined);
  return client;
}

/**
 * Drop a connection now. A TLS socket torn down mid-handshake may still emit an error after ioredis
 * let go of it; swallow that instead of crashing the process.
 */
export function closeNow(client: Redis): void {
  const stream = (client as unknown as { stream?: NodeJS.EventEmitter }).stream;
  stream?.on('error', () => undefined);
  client.disconnect();
}

const AUTH_ERROR = /WRONGPASS|NOAUTH|invalid password|invalid username-password|AUTH .*failed/i;
const TLS_ERROR = /certificate|CERT_|SSL|TLS|wrong version number|ERR_SSL/i;

/**
 * Wait until `client` is ready. A refused password fails at once; an unreachable server fails after
 * `timeoutMs` with the last connection error. Both are UserErrors that show only the redacted URL.
 */
export async function waitReady(client: Redis, target: QueueTarget, timeoutMs = 15_000): Promise<void> {
  if (client.status === 'ready') return;
  let lastError = '';
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onError = (e: Error) => {
      lastError = scrub(e.message, target);
      if (AUTH_ERROR.test(e.message)) {
        done(new UserError(`Redis at ${target.display} refused the credentials (${lastError})`, 'check the password in the URL or CL_QUEUE_PASSWORD (and the user name, for Redis ACL users)'));
      } else if (TLS_ERROR.test(e.message)) {
        done(
          new UserError(
            `TLS with Redis at ${target.display} failed (${lastError})`,
            target.options.tls
              ? "a server certificate from a private CA needs NODE_EXTRA_CA_CERTS=<CA pem file>; the certificate must name the URL's host"
              : 'the server may speak TLS only: use rediss://',
          ),
        );
      }
    };
    const timer = setTimeout(
      () =>
        done(
          new UserError(
            `cannot reach Redis at ${target.display} within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (${lastError})` : ''}`,
            'start it (e.g. `redis-server --port 6379`, see the README) or check the host, port and TLS (rediss://) of the URL',
          ),
        ),
      timeoutMs,
    );
    client.on('ready', onReady);
    client.on('error', onError);
  });
}
