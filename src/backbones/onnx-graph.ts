/**
 * ONNX ModelProto building blocks (onnx.proto field numbers) and the one model edit `cl` makes:
 * putting the declared image preprocessing in front of a model as ONNX operators, so onnxruntime
 * resizes and normalises on its own threads instead of JavaScript doing it on the main thread.
 *
 * The edit is a splice at the protobuf wire level: new nodes are written first (the graph stays in
 * topological order), the model's image input is replaced by a uint8 input of the dataset's
 * geometry, and every other byte of the model is copied unchanged.
 */
import { ProtobufError, concat, pbBytes, pbInt, pbString, stringField, wireFields } from './protobuf.js';
import { axisTable, type Preprocessing } from './preprocess.js';

export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;

const ATTR_INT = 2;
const ATTR_INTS = 7;

export type Dim = number | string;
export type Attr = { name: string; int: number } | { name: string; ints: number[] };

function attribute(a: Attr): Uint8Array {
  if ('int' in a) return concat([pbString(1, a.name), pbInt(20, ATTR_INT), pbInt(3, a.int)]);
  return concat([pbString(1, a.name), pbInt(20, ATTR_INTS), ...a.ints.map((v) => pbInt(8, v))]);
}

/** A NodeProto (default domain). */
export function onnxNode(op: string, inputs: string[], outputs: string[], name: string, attrs: Attr[] = []): Uint8Array {
  return concat([
    ...inputs.map((i) => pbString(1, i)),
    ...outputs.map((o) => pbString(2, o)),
    pbString(3, name),
    pbString(4, op),
    ...attrs.map((a) => pbBytes(5, attribute(a))),
  ]);
}

/** A TensorProto initializer with raw little-endian data. */
export function onnxTensor(name: string, type: typeof ONNX_FLOAT | typeof ONNX_INT64, dims: number[], values: number[]): Uint8Array {
  let raw: Buffer;
  if (type === ONNX_FLOAT) {
    raw = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  } else {
    raw = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
  }
  return concat([...dims.map((d) => pbInt(1, d)), pbInt(2, type), pbString(8, name), pbBytes(9, new Uint8Array(raw))]);
}

/** A ValueInfoProto for a tensor (a string dim is symbolic). */
export function onnxValueInfo(name: string, elemType: number, dims: Dim[]): Uint8Array {
  const shape = dims.map((d) => pbBytes(1, typeof d === 'number' ? pbInt(1, d) : pbString(2, d)));
  const tensorType = concat([pbInt(1, elemType), pbBytes(2, shape)]);
  return concat([pbString(1, name), pbBytes(2, pbBytes(1, tensorType))]);
}

/** A ModelProto around `graph` (GraphProto bytes) with one default-domain opset import. */
export function onnxModel(graph: Uint8Array, opset = 13, irVersion = 8): Uint8Array {
  return concat([pbInt(1, irVersion), pbString(2, 'cl'), pbBytes(7, graph), pbBytes(8, concat([pbString(1, ''), pbInt(2, opset)]))]);
}

// ---- reading ---------------------------------------------------------------------------------

/** The default-domain opset a model imports (0 when none is declared). */
export function defaultOpset(model: Uint8Array): number {
  let v = 0;
  for (const f of wireFields(model)) {
    if (f.field !== 8 || !f.data) continue;
    let domain = '';
    let version = 0;
    for (const g of wireFields(f.data)) {
      if (g.field === 1 && g.data) domain = Buffer.from(g.data).toString('utf8');
      if (g.field === 2 && g.int !== undefined) version = Number(g.int);
    }
    if (domain === '' || domain === 'ai.onnx') v = Math.max(v, version);
  }
  return v;
}

function graphOf(model: Uint8Array): Uint8Array {
  for (const f of wireFields(model)) if (f.field === 7 && f.data) return f.data;
  throw new ProtobufError('the model has no graph');
}

/** True when any initializer keeps its data in an external file (then the model cannot be loaded from bytes). */
export function hasExternalData(model: Uint8Array): boolean {
  for (const f of wireFields(graphOf(model))) {
    if (f.field !== 5 || !f.data) continue;
    for (const t of wireFields(f.data)) if (t.field === 14 && t.int === 1n) return true;
  }
  return false;
}

// ---- the preprocessing splice -----------------------------------------------------------------

export interface FuseRequest {
  /** The model's image input (float32, the layout/size of `p`). */
  input: string;
  /** The model's batch dim: a static size or null (symbolic). */
  batch: number | null;
  /** Geometry of the dataset's uint8 HWC images. */
  inH: number;
  inW: number;
  inC: 1 | 3;
  p: Preprocessing;
}

export const FUSED_INPUT = 'cl_pixels';
const PREFIX = 'cl_pre/';

/** Why preprocessing cannot be put in front of this model's `input`, or null when it can. */
export function fuseBlocker(model: Uint8Array, input: string): string | null {
  try {
    const opset = defaultOpset(model);
    if (opset < 7) return `opset ${opset} is older than 7 (no broadcasting Mul/Add)`;
    if (hasExternalData(model)) return 'the model keeps weights in external data files';
    let found = false;
    for (const f of wireFields(graphOf(model))) {
      if (f.field === 11 && f.data && stringField(f.data, 1) === input) found = true;
      if ((f.field === 11 || f.field === 5) && f.data && stringField(f.data, f.field === 5 ? 8 : 1) === FUSED_INPUT) return `the model already has a tensor named ${FUSED_INPUT}`;
      if (f.field === 1 && f.data) {
        for (const g of wireFields(f.data)) {
          if (g.field === 2 && g.data && Buffer.from(g.data).toString('utf8').startsWith(PREFIX)) return `the model already has tensors named ${PREFIX}*`;
        }
      }
    }
    return found ? null : `input "${input}" is not a graph input`;
  } catch (e) {
    if (e instanceof ProtobufError) return `its protobuf could not be read (${e.message})`;
    throw e;
  }
}

/**
 * The nodes, initializers and new input that compute the model's float input from uint8 HWC pixels,
 * as `Preprocessor` does in JS (equal to float32 rounding): value = a[c] * pixel + b[c] (scale, mean
 * and std folded, applied at the source resolution, which commutes with the convex combinations of
 * a bilinear resize), then the half-pixel bilinear resize of the same axis tables (PyTorch
 * align_corners=False, no antialias), then the model's layout. Grey images broadcast to 3 channels.
 * Only Cast, Mul, Add, Transpose and MatMul are used, all available since opset 7.
 */
export function preprocessingNodes(req: FuseRequest): { nodes: Uint8Array[]; initializers: Uint8Array[]; input: Uint8Array } {
  const { p } = req;
  const c = p.channels;
  const [outH, outW] = p.size ?? [req.inH, req.inW];
  const resize = outH !== req.inH || outW !== req.inW;
  const a: number[] = [];
  const b: number[] = [];
  for (let k = 0; k < c; k++) {
    const mean = p.mean ? p.mean[k] : 0;
    const std = p.std ? p.std[k] : 1;
    a.push(Math.fround(p.scale / std));
    b.push(Math.fround(-mean / std));
  }
  const n = (s: string): string => `${PREFIX}${s}`;
  const nodes: Uint8Array[] = [];
  const inits: Uint8Array[] = [onnxTensor(n('a'), ONNX_FLOAT, [c], a), onnxTensor(n('b'), ONNX_FLOAT, [c], b)];
  nodes.push(onnxNode('Cast', [FUSED_INPUT], [n('f32')], n('cast'), [{ name: 'to', int: ONNX_FLOAT }]));
  nodes.push(onnxNode('Mul', [n('f32'), n('a')], [n('scaled')], n('mul')));
  // The last node writes the model's own input name, so the model's nodes need no renaming.
  const nhwcOut = p.layout === 'NHWC';
  if (!resize) {
    if (nhwcOut) nodes.push(onnxNode('Add', [n('scaled'), n('b')], [req.input], n('add')));
    else {
      nodes.push(onnxNode('Add', [n('scaled'), n('b')], [n('norm')], n('add')));
      nodes.push(onnxNode('Transpose', [n('norm')], [req.input], n('to_nchw'), [{ name: 'perm', ints: [0, 3, 1, 2] }]));
    }
  } else {
    // Separable bilinear resize as two matrix products with the interpolation matrices of the JS
    // preprocessor's axis tables: rows = Ry [outH x inH] * X [inH x inW] * RxT [inW x outW] per
    // plane. MatMul is among onnxruntime's fastest kernels, unlike its generic Resize.
    const xt = axisTable(req.inW, outW);
    const yt = axisTable(req.inH, outH);
    const rxT = new Array<number>(req.inW * outW).fill(0);
    for (let o = 0; o < outW; o++) {
      rxT[xt.lo[o] * outW + o] += 1 - xt.w[o];
      rxT[xt.hi[o] * outW + o] += xt.w[o];
    }
    const ry = new Array<number>(outH * req.inH).fill(0);
    for (let o = 0; o < outH; o++) {
      ry[o * req.inH + yt.lo[o]] += 1 - yt.w[o];
      ry[o * req.inH + yt.hi[o]] += yt.w[o];
    }
    inits.push(onnxTensor(n('rxT'), ONNX_FLOAT, [req.inW, outW], rxT), onnxTensor(n('ry'), ONNX_FLOAT, [outH, req.inH], ry));
    nodes.push(onnxNode('Add', [n('scaled'), n('b')], [n('norm')], n('add')));
    nodes.push(onnxNode('Transpose', [n('norm')], [n('nchw')], n('to_nchw'), [{ name: 'perm', ints: [0, 3, 1, 2] }]));
    nodes.push(onnxNode('MatMul', [n('nchw'), n('rxT')], [n('wide')], n('resize_x')));
    const resized = nhwcOut ? n('resized') : req.input;
    nodes.push(onnxNode('MatMul', [n('ry'), n('wide')], [resized], n('resize_y')));
    if (nhwcOut) nodes.push(onnxNode('Transpose', [resized], [req.input], n('to_nhwc'), [{ name: 'perm', ints: [0, 2, 3, 1] }]));
  }
  const input = onnxValueInfo(FUSED_INPUT, ONNX_UINT8, [req.batch ?? 'cl_batch', req.inH, req.inW, req.inC]);
  return { nodes, initializers: inits, input };
}

/**
 * The model with preprocessing in front: input `cl_pixels` uint8 [N, inH, inW, inC] replaces the
 * model's float image input. Throws ProtobufError on malformed model bytes; check `fuseBlocker` first.
 */
export function fusePreprocessing(model: Uint8Array, req: FuseRequest): Uint8Array {
  const { nodes, initializers, input } = preprocessingNodes(req);
  const graphParts: Uint8Array[] = nodes.map((nd) => pbBytes(1, nd));
  for (const f of wireFields(graphOf(model))) {
    if (f.field === 11 && f.data && stringField(f.data, 1) === req.input) continue; // replaced below
    graphParts.push(f.raw);
  }
  graphParts.push(...initializers.map((t) => pbBytes(5, t)), pbBytes(11, input));
  const modelParts: Uint8Array[] = [];
  for (const f of wireFields(model)) modelParts.push(f.field === 7 ? pbBytes(7, graphParts) : f.raw);
  return concat(modelParts);
}
