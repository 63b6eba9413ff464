/**
 * Frozen feature extractors. A backbone turns an ImageSplit (uint8 HWC) into `count x dim` float32
 * features. Backbones are built from a spec string through a small table of spec kinds, so new
 * kinds (named backbones, `hf:`, `tfjs:`) are one table row each.
 */
import { UserError } from '../errors.js';
import { createHfBackbone } from './hf.js';
import { NAMED_BACKBONES } from './named.js';
import { createOnnxBackbone } from './onnx.js';
import { createPixelsBackbone } from './pixels.js';
import { createTfjsBackbone } from './tfjs.js';
import type { Backbone, BackboneOptions, BackboneSpec } from './types.js';
import { withEta } from './wrap.js';

export type { Backbone, BackboneOptions, BackboneSpec, ExtractOptions, PoolMode } from './types.js';

interface SpecKind {
  /** Usage line shown in errors. */
  usage: string;
  /** A named pretrained backbone (listed apart from the spec forms). */
  named?: boolean;
  /** True when the kind takes no `:target`. */
  bare?: boolean;
  create(spec: BackboneSpec, opts: BackboneOptions): Promise<Backbone>;
}

/** The spec kinds `createBackbone` understands. Add a row to add a kind. */
const SPEC_KINDS: Record<string, SpecKind> = {
  pixels: {
    usage: 'pixels                      raw pixels scaled to [0, 1], flattened (no model)',
    bare: true,
    create: async () => createPixelsBackbone(),
  },
  onnx: {
    usage: 'onnx:<path-or-URL>[#output]  an ONNX image model run by onnxruntime-node (default output: the first)',
    create: (spec, opts) => createOnnxBackbone(spec, opts),
  },
  hf: {
    usage: 'hf:<repo>[@revision][#output]  the ONNX export (onnx/model.onnx) of a Hugging Face hub repo; env HF_ENDPOINT, HF_HUB_OFFLINE',
    create: (spec, opts) => createHfBackbone(spec, opts),
  },
  tfjs: {
    usage: 'tfjs:<path-or-URL>[#layer]    a TensorFlow.js layers/graph model (folder or model.json); #layer picks the feature layer/node',
    create: (spec, opts) => createTfjsBackbone(spec, opts),
  },
  ...Object.fromEntries(
    NAMED_BACKBONES.map((n): [string, SpecKind] => [
      n.name,
      { usage: `${n.name.padEnd(28)}${n.title}`, bare: true, named: true, create: (_spec, opts) => n.create(opts) },
    ]),
  ),
};

/** The spec forms on one line: `pixels | onnx:<path-or-URL>[#output] | ... | named backbones: ...`. */
function acceptedForms(): string {
  const rows = Object.values(SPEC_KINDS);
  const forms = rows.filter((k) => !k.named).map((k) => k.usage.split(/\s+/)[0]);
  const names = rows.filter((k) => k.named).map((k) => k.usage.split(' ')[0]);
  return `${forms.join(' | ')} | named backbones: ${names.join(', ')} (see \`cl backbones\`)`;
}

function badSpec(spec: string, what: string): UserError {
  return new UserError(`backbone "${spec}": ${what}`, `accepted forms: ${acceptedForms()}`);
}

/** Split a spec string into kind, target and `#output`. Unknown kinds throw a UserError listing the accepted forms. */
export function parseBackboneSpec(spec: string): BackboneSpec {
  const raw = spec.trim();
  const colon = raw.indexOf(':');
  const kind = (colon < 0 ? raw : raw.slice(0, colon)).toLowerCase();
  if (!Object.hasOwn(SPEC_KINDS, kind)) throw badSpec(raw, `unknown backbone kind "${kind}"`);
  const def = SPEC_KINDS[kind];
  if (def.bare) {
    if (colon >= 0) throw badSpec(raw, `"${kind}" takes no argument`);
    return { kind, target: '', raw };
  }
  let rest = colon < 0 ? '' : raw.slice(colon + 1);
  let output: string | undefined;
  const hash = rest.lastIndexOf('#');
  if (hash >= 0) {
    output = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
    if (!output) throw badSpec(raw, 'empty output name after "#"');
  }
  if (!rest) throw badSpec(raw, `"${kind}" needs a model path or URL`);
  return output === undefined ? { kind, target: rest, raw } : { kind, target: rest, output, raw };
}

/** Build a backbone from a spec string (see SPEC_KINDS). */
export async function createBackbone(spec: string, opts: BackboneOptions = {}): Promise<Backbone> {
  const parsed = parseBackboneSpec(spec);
  return withEta(await SPEC_KINDS[parsed.kind].create(parsed, opts));
}

/** Usage lines of every accepted spec form (for CLI help; named backbones are listed by NAMED_BACKBONES). */
export function backboneSpecForms(): string[] {
  return Object.values(SPEC_KINDS)
    .filter((k) => !k.named)
    .map((k) => k.usage);
}
