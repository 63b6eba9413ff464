/**
 * JSON schema of a scenario file (`scenarios/<name>.json`), checked with ajv, and the translation of
 * ajv's errors into messages that name the field (JSON pointer) and say what is expected.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** A scenario file as written on disk (after schema validation). */
export interface ScenarioFile {
  $schema?: string;
  name: string;
  description: string;
  /** Dataset id as in src/data ('cifar100', 'fashion-mnist', 'mnist-embedded', ...) or a dataset spec (imagefolder:<dir>, features:<path>). */
  dataset: string;
  numClasses: number;
  /**
   * True when numClasses is smaller than the dataset's class count on purpose: the scenario uses
   * only classes 0..numClasses-1. Without it numClasses must equal the dataset's class count.
   */
  subset?: boolean;
  /** `B{b}-Inc{i}` or `B{b}-Inc[a,b,...]` (docs/protocols.md "Scenario names"). */
  split: string;
  /** A named order ('icarl-1993', 'podnet-fixed', 'natural', 'seed:<n>'), a literal list, or {"seed": n}. */
  order: string | number[] | { seed: number };
  /** Default backbone spec (resolved by the runner), e.g. 'pixels' or 'vit-b16-in21k'. */
  backbone: string;
  notes?: string | string[];
}

/** Upper bound of numClasses (ImageNet-21k has 21,841 classes); keeps a typo like 1e9 from allocating class tables. */
export const MAX_CLASSES = 1_000_000;

const ORDER_DESCRIPTION =
  'a named order ("icarl-1993", "podnet-fixed", "natural", "seed:<n>"), a list of every class id, or {"seed": <non-negative integer>}';

export const scenarioSchema = {
  $id: 'https://cl.local/schemas/scenario.json',
  title: 'cl scenario file',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'description', 'dataset', 'numClasses', 'split', 'order', 'backbone'],
  properties: {
    $schema: { type: 'string' },
    name: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9._-]*$',
      description: 'lower-case letters, digits, ".", "_" and "-" (e.g. "split-cifar100")',
    },
    description: { type: 'string', minLength: 1, description: 'one line saying what the scenario is' },
    dataset: {
      type: 'string',
      pattern: '^([a-z0-9][a-z0-9-]*|(imagefolder|features):.+)$',
      description: 'a dataset id such as "cifar100", "fashion-mnist" or "mnist-embedded", or imagefolder:<dir> / features:<path> (relative to the scenario file)',
    },
    numClasses: {
      type: 'integer',
      minimum: 2,
      maximum: MAX_CLASSES,
      description: `the number of classes of the dataset (at most ${MAX_CLASSES}); fewer only with "subset": true`,
    },
    subset: {
      type: 'boolean',
      description:
        'true: numClasses is smaller than the dataset\'s class count on purpose and the scenario uses only classes 0..numClasses-1 (the other classes\' samples are left out of training and evaluation); absent or false: numClasses must equal the dataset\'s class count',
    },
    split: {
      type: 'string',
      pattern: '^[Bb]\\d+-[Ii]nc(\\d+|\\[\\s*\\d+(\\s*,\\s*\\d+)*\\s*\\])$',
      description: 'B{base}-Inc{increment}, e.g. "B0-Inc10" or "B50-Inc[17,17,16]"',
    },
    order: {
      description: ORDER_DESCRIPTION,
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 2, items: { type: 'integer', minimum: 0 } },
        {
          type: 'object',
          additionalProperties: false,
          required: ['seed'],
          properties: { seed: { type: 'integer', minimum: 0, maximum: 4294967295 } },
        },
      ],
    },
    backbone: {
      type: 'string',
      minLength: 1,
      description: 'the default backbone spec, e.g. "pixels" or "vit-b16-in21k"',
    },
    notes: {
      description: 'free text: a string or a list of strings',
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    },
  },
} as const;

let compiled: ValidateFunction | null = null;

function validator(): ValidateFunction {
  if (!compiled) compiled = new Ajv({ allErrors: true, verbose: true }).compile(scenarioSchema);
  return compiled;
}

/** Short rendering of a JSON value for an error message. */
function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}

function describe(e: ErrorObject): string {
  const parent = e.parentSchema as { description?: string } | undefined;
  const expected = parent?.description ? ` (expected ${parent.description})` : '';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `missing required field "${String(params.missingProperty)}"`;
    case 'additionalProperties':
      return `unknown field "${String(params.additionalProperty)}"`;
    case 'anyOf':
      return `is ${show(e.data)}, expected ${parent?.description ?? 'another form'}`;
    case 'type':
      return `is ${show(e.data)}, must be ${String(params.type)}${expected}`;
    default:
      return `is ${show(e.data)}: ${e.message ?? 'invalid'}${expected}`;
  }
}

/**
 * Validate `data` against the scenario schema. Returns [] when valid, else one line per problem:
 * "<JSON pointer>: <what is wrong and what is expected>". Errors inside an anyOf branch are folded
 * into the anyOf's own message.
 */
export function scenarioSchemaErrors(data: unknown): string[] {
  const validate = validator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath + '/');
  const kept = errors.filter((e) => !anyOfPaths.some((p) => e.schemaPath.startsWith(p)));
  return kept.map((e) => {
    const pointer = e.instancePath === '' ? '/' : e.instancePath;
    return `${pointer}: ${describe(e)}`;
  });
}

export function isScenarioFile(data: unknown): data is ScenarioFile {
  return scenarioSchemaErrors(data).length === 0;
}
