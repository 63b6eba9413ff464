/**
 * The queue's pure parts: job ids derived from configurations, the payload check a worker applies,
 * queue URLs (credentials never shown) and durations.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { isUserError } from '../../src/errors.js';
import { parseQueueUrl, redactArgv, scrub } from '../../src/queue/connection.js';
import { canonicalJson, checkPayload, InvalidPayloadError, jobIdOf, makePayload, sweepIdOf, type RunConfig } from '../../src/queue/job.js';
import { parseDuration } from '../../src/queue/queue.js';
import { MAX_SEED, RUN_OPTIONS } from '../../src/experiment-options.js';
import { resolveOptions } from '../../src/options.js';
import { mnistNmcConfig } from './fixtures.js';

const config = mnistNmcConfig;

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('queue/job', () => {
  it('canonicalJson sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null, u: undefined } })).to.equal('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  });

  it('the job id is "r" + 20 hex digits of the sha256 of the canonical configuration: key order does not matter, every field does', () => {
    const c = config();
    const expected = `r${createHash('sha256').update(canonicalJson({ format: 'cl-run-job', version: 1, config: c })).digest('hex').slice(0, 20)}`;
    expect(jobIdOf(c)).to.equal(expected).and.match(/^r[0-9a-f]{20}$/);
    const reordered = Object.fromEntries(Object.entries(c).reverse()) as unknown as RunConfig;
    expect(jobIdOf(reordered)).to.equal(expected);
    expect(jobIdOf(config({ seed: 2 }))).not.to.equal(expected);
    expect(jobIdOf(config({ options: { ...c.options, metric: 'cosine' } }))).not.to.equal(expected);
    expect(jobIdOf(config({ overrides: { order: 'seed:3' } }))).not.to.equal(expected);
  });

  it('the sweep id depends on the set of jobs and the queue, not on their order', () => {
    expect(sweepIdOf('runs', ['ra', 'rb'])).to.equal(sweepIdOf('runs', ['rb', 'ra'])).and.match(/^s[0-9a-f]{12}$/);
    expect(sweepIdOf('runs', ['ra', 'rb'])).not.to.equal(sweepIdOf('other', ['ra', 'rb']));
    expect(sweepIdOf('runs', ['ra'])).not.to.equal(sweepIdOf('runs', ['ra', 'rb']));
  });

  it('checkPayload accepts a well-formed job under its own id', () => {
    const c = config();
    const p = makePayload('nmc', c);
    expect(checkPayload(JSON.parse(JSON.stringify(p)), jobIdOf(c))).to.deep.equal(p);
  });

  it("backbone options in a job take exactly the choices of cl run's own flags", () => {
    for (const [key, value, ok] of [
      ['layout', 'NHWC', true],
      ['layout', 'NWHC', false],
      ['pool', 'gap', true],
      ['pool', 'max', false],
      ['normalize', 'none', true],
      ['preprocess', 'js', true],
      ['preprocess', 'wasm', false],
    ] as const) {
      const c = config({ backboneOptions: { [key]: value } } as Partial<RunConfig>);
      const check = () => checkPayload(JSON.parse(JSON.stringify(makePayload('nmc', c))), jobIdOf(c));
      if (ok) expect(check, `${key}=${value}`).to.not.throw();
      else expect(thrown(check).message, `${key}=${value}`).to.match(new RegExp(`/config/backboneOptions/${key} must be equal to one of the allowed values`));
    }
  });

  it('checkPayload refuses paths, URLs, unknown fields, a broken scenario and an id that does not match', () => {
    const c = config();
    const id = jobIdOf(c);
    const cases: [unknown, string | undefined, RegExp][] = [
      [makePayload('x', config({ backbone: 'onnx:/etc/passwd' })), jobIdOf(config({ backbone: 'onnx:/etc/passwd' })), /\/config\/backbone must match pattern/],
      [makePayload('x', config({ backbone: '../../models/m.onnx' })), undefined, /\/config\/backbone must match pattern/],
      [{ ...makePayload('x', c), config: { ...c, dataDir: '/etc' } }, id, /\/config must NOT have additional properties/],
      [{ ...makePayload('x', c), shell: 'rm -rf /' }, id, /must NOT have additional properties/],
      [makePayload('x', config({ options: { 'a;b': 1 } })), undefined, /property name must be valid|must match pattern/],
      [makePayload('x', config({ options: { variant: { $where: 1 } as unknown as string } })), undefined, /\/config\/options\/variant/],
      [makePayload('x', config({ backend: 'gpu' as RunConfig['backend'] })), undefined, /\/config\/backend must be equal to one of the allowed values/],
      [makePayload('x', { ...c, scenario: { ...c.scenario, dataset: 'imagefolder:/etc' } }), undefined, /\/config\/scenario\/dataset must match pattern/],
      [makePayload('x', { ...c, scenario: { ...c.scenario, split: 'B0' } }), jobIdOf({ ...c, scenario: { ...c.scenario, split: 'B0' } }), /its scenario is invalid: \/split/],
      [makePayload('x\u001b[2J\nforged log line', c), id, /\/label must match pattern/],
      [makePayload('x', c), 'r0000000000000000000', /does not carry the configuration its id names/],
      [makePayload('x', config({ seed: 2 })), id, /does not carry the configuration its id names/],
    ];
    for (const [data, jobId, pattern] of cases) {
      const e = thrown(() => checkPayload(JSON.parse(JSON.stringify(data)), jobId));
      expect(e, JSON.stringify(data).slice(0, 80)).to.be.instanceOf(InvalidPayloadError);
      expect(e.message).to.match(pattern);
    }
  });

  it("seed and split overrides are checked by `cl run`'s own option declarations (RUN_OPTIONS), not a copy", () => {
    // Every seed `cl run --seed` takes is a valid job: up to MAX_SEED (2^32 - 1), not just 2^31 - 1.
    for (const seed of [0, 2 ** 31, MAX_SEED]) {
      const c = config({ seed });
      expect(checkPayload(JSON.parse(JSON.stringify(makePayload('x', c))), jobIdOf(c)).config.seed).to.equal(seed);
    }
    const ok = config({ overrides: { base: 0, increment: [17, 17, 16], order: 'seed:3' } });
    expect(() => checkPayload(JSON.parse(JSON.stringify(makePayload('x', ok))), jobIdOf(ok))).not.to.throw();
    // What `cl run` refuses, a worker refuses: the same bounds come from the same declarations.
    for (const [bad, pattern] of [
      [{ seed: MAX_SEED + 1 }, /\/config\/seed must be <= 4294967295/],
      [{ seed: -1 }, /\/config\/seed must be >= 0/],
      [{ seed: 1.5 }, /\/config\/seed must be integer/],
      [{ overrides: { base: -1 } }, /\/config\/overrides\/base must be >= 0/],
      [{ overrides: { increment: [10, 0] } }, /\/config\/overrides\/increment/],
      [{ overrides: { classes: 5 } as RunConfig['overrides'] }, /\/config\/overrides must NOT have additional properties/],
    ] as [Partial<RunConfig>, RegExp][]) {
      const c = config(bad);
      const e = thrown(() => checkPayload(JSON.parse(JSON.stringify(makePayload('x', c))), jobIdOf(c)));
      expect(e, JSON.stringify(bad)).to.be.instanceOf(InvalidPayloadError);
      expect(e.message, JSON.stringify(bad)).to.match(pattern);
    }
    for (const o of [{ seed: MAX_SEED + 1 }, { seed: -1 }, { base: -1 }, { increment: [10, 0] }]) expect(() => resolveOptions(RUN_OPTIONS, o, 'cl run'), JSON.stringify(o)).to.throw();
  });
});

describe('queue/connection URLs', () => {
  it('redis:// with a password: ioredis options carry it, the display and scrub hide it', () => {
    const t = parseQueueUrl('redis://:s3cr%40t!@queue-host:6380/2', {});
    expect(t.options).to.deep.include({ host: 'queue-host', port: 6380, db: 2, password: 's3cr@t!' });
    expect(t.options.tls).to.equal(undefined);
    expect(t.display).to.equal('redis://:***@queue-host:6380/2');
    expect(scrub('AUTH failed for s3cr@t! (s3cr%40t!)', t)).to.equal('AUTH failed for *** (***)');
    expect(redactArgv(['sweep', '--queue', 'redis://:s3cr%40t!@queue-host:6380/2'], t)).to.deep.equal(['sweep', '--queue', 'redis://:***@queue-host:6380/2']);
  });

  it('user names, TLS (SNI only for host names), default port, unix sockets, CL_QUEUE_PASSWORD', () => {
    const tls = parseQueueUrl('rediss://alice:pw@redis.example.org', {});
    expect(tls.options).to.deep.include({ host: 'redis.example.org', port: 6379, username: 'alice', password: 'pw' });
    expect(tls.options.tls).to.deep.equal({ servername: 'redis.example.org' });
    expect(tls.display).to.equal('rediss://alice:***@redis.example.org');
    expect(parseQueueUrl('rediss://127.0.0.1:7000', {}).options.tls).to.deep.equal({});
    const unix = parseQueueUrl('unix:/run/redis/redis.sock?db=3', { CL_QUEUE_PASSWORD: 'envpw' });
    expect(unix.options).to.deep.include({ path: '/run/redis/redis.sock', db: 3, password: 'envpw' });
    expect(unix.display).to.equal('unix:/run/redis/redis.sock');
    expect(unix.secrets).to.include('envpw');
    // The URL's own password wins over the environment's.
    expect(parseQueueUrl('redis://:urlpw@h', { CL_QUEUE_PASSWORD: 'envpw' }).options.password).to.equal('urlpw');
  });

  it('a bad URL is a UserError that never echoes the password', () => {
    for (const bad of ['http://:topsecret@host', 'redis://:topsecret@[::1', 'redis://:topsecret@host/x', 'redis://:topsecret@host?tls=true', 'unix:?db=1', 'redis://:topsecret@:6379']) {
      const e = thrown(() => parseQueueUrl(bad, {}));
      expect(isUserError(e), bad).to.equal(true);
      expect(e.message, bad).not.to.include('topsecret');
      expect(e.message).to.match(/^the queue URL /);
    }
  });

  it('parseDuration', () => {
    expect(parseDuration('--keep', '7d')).to.equal(7 * 86400);
    expect(parseDuration('--keep', '12h')).to.equal(43200);
    expect(parseDuration('--keep', '1.5m')).to.equal(90);
    expect(parseDuration('--keep', '2s')).to.equal(2);
    for (const bad of ['7', '0s', '-1h', 'week', '']) expect(() => parseDuration('--keep', bad)).to.throw(/--keep ".*" is not a duration/);
  });
});
