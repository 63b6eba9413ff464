/**
 * A ViT-B/16-shaped ONNX model with random weights, for measuring what the default backbone
 * (`vit-b16-in21k`, the hub's ONNX export of google/vit-base-patch16-224-in21k) costs on a CPU
 * without downloading it. Same graph as the transformers export of ViTModel: 16×16/16 patch
 * convolution to 768-d, [CLS] token + learned position embeddings (197 tokens), 12 pre-norm
 * encoder layers (LayerNorm ε 1e-12; Q/K/V/output projections; 12 heads of 64, scores ÷ 8,
 * softmax; MLP 768 → 3072 → 768 with exact (erf) GELU; residuals), final LayerNorm →
 * `last_hidden_state` [N, 197, 768], and the tanh pooler on [CLS] → `pooler_output` [N, 768].
 * LayerNorm and GELU are written as the exporter writes them (ReduceMean/Sub/Pow/Sqrt/Div and
 * Div/Erf/Add/Mul); onnxruntime fuses them back as it does for the hub model. 86.4 M parameters.
 *
 * `int8: true` writes the same model as onnxruntime's dynamic quantisation does
 * (`quantize_dynamic`, the hub's `onnx/model_quantized.onnx`): every MatMul with a weight becomes
 * DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q int8, x_zp) → Cast → ×(s_x·s_W), weights
 * symmetric per-tensor int8; the patch convolution stays float.
 *
 * Written with the project's own protobuf writer (src/backbones/protobuf.ts); no Python, no onnx package.
 */
import { ONNX_FLOAT, onnxModel, onnxNode, onnxValueInfo, type Attr } from '../../src/backbones/onnx-graph.js';
import { concat, pbBytes, pbInt, pbString } from '../../src/backbones/protobuf.js';

const ONNX_INT8 = 3;
const ONNX_INT64 = 7;

export const VIT = { dim: 768, heads: 12, layers: 12, mlp: 3072, patch: 16, image: 224, tokens: 197 } as const;

/** xorshift32 uniform(−a, a): fast enough for 86 M weights, deterministic. */
function filler(seed: number): (n: number, a: number) => Float32Array {
  let s = seed >>> 0 || 1;
  return (n, a) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
    }
    return out;
  };
}

class Graph {
  readonly nodes: Uint8Array[] = [];
  readonly inits: Uint8Array[] = [];
  params = 0;
  private k = 0;

  tensor(name: string, dims: number[], type: number, raw: Uint8Array, count = true): string {
    if (count && type === ONNX_FLOAT) this.params += raw.byteLength / 4;
    if (count && type === ONNX_INT8) this.params += raw.byteLength;
    this.inits.push(concat([...dims.map((d) => pbInt(1, d)), pbInt(2, type), pbString(8, name), pbBytes(9, raw)]));
    return name;
  }

  f32(name: string, dims: number[], v: Float32Array, count = true): string {
    return this.tensor(name, dims, ONNX_FLOAT, new Uint8Array(v.buffer, v.byteOffset, v.byteLength), count);
  }

  i64(name: string, v: number[]): string {
    const b = new BigInt64Array(v.map((x) => BigInt(x)));
    return this.tensor(name, [v.length], ONNX_INT64, new Uint8Array(b.buffer), false);
  }

  scalar(name: string, v: number): string {
    return this.f32(name, [], Float32Array.of(v), false);
  }

  op(type: string, inputs: string[], attrs: Attr[] = [], outputs = 1): string[] {
    const base = `${type.toLowerCase()}_${this.k++}`;
    const outs = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? base : `${base}_${i}`));
    this.nodes.push(onnxNode(type, inputs, outs, base, attrs));
    return outs;
  }

  one(type: string, inputs: string[], attrs: Attr[] = []): string {
    return this.op(type, inputs, attrs)[0];
  }
}

export interface VitOptions {
  int8?: boolean;
  seed?: number;
}

/** The ONNX ModelProto bytes and the parameter count. */
export function buildVit(opts: VitOptions = {}): { bytes: Uint8Array; params: number } {
  const { dim, heads, layers, mlp, patch, tokens } = VIT;
  const g = new Graph();
  const rand = filler(opts.seed ?? 2024);
  const std = (fanIn: number): number => Math.sqrt(3 / fanIn); // uniform with variance 1/fanIn
  const axesLast: Attr = { name: 'axes', ints: [-1] };
  const keep: Attr = { name: 'keepdims', int: 1 };
  const two = g.scalar('c_two', 2);
  const eps = g.scalar('c_eps', 1e-12);
  const half = g.scalar('c_half', 0.5);
  const oneC = g.scalar('c_one', 1);
  const sqrt2 = g.scalar('c_sqrt2', Math.SQRT2);
  const eight = g.scalar('c_scale', 8);

  const layerNorm = (x: string, tag: string): string => {
    const gamma = g.f32(`${tag}.weight`, [dim], new Float32Array(dim).fill(1));
    const beta = g.f32(`${tag}.bias`, [dim], new Float32Array(dim));
    const mean = g.one('ReduceMean', [x], [axesLast, keep]);
    const centred = g.one('Sub', [x, mean]);
    const varr = g.one('ReduceMean', [g.one('Pow', [centred, two])], [axesLast, keep]);
    const normed = g.one('Div', [centred, g.one('Sqrt', [g.one('Add', [varr, eps])])]);
    return g.one('Add', [g.one('Mul', [normed, gamma]), beta]);
  };

  const linear = (x: string, inDim: number, outDim: number, tag: string): string => {
    const w = rand(inDim * outDim, std(inDim));
    const b = g.f32(`${tag}.bias`, [outDim], rand(outDim, 0.02));
    if (!opts.int8) return g.one('Add', [g.one('MatMul', [x, g.f32(`${tag}.weight`, [inDim, outDim], w)]), b]);
    // Symmetric per-tensor int8 weights, as quantize_dynamic writes them.
    let amax = 0;
    for (let i = 0; i < w.length; i++) amax = Math.max(amax, Math.abs(w[i]));
    const ws = amax / 127;
    const q = new Int8Array(w.length);
    for (let i = 0; i < w.length; i++) q[i] = Math.round(w[i] / ws);
    const wq = g.tensor(`${tag}.weight_quantized`, [inDim, outDim], ONNX_INT8, new Uint8Array(q.buffer));
    const wzp = g.tensor(`${tag}.weight_zero_point`, [], ONNX_INT8, new Uint8Array(1), false);
    const wscale = g.scalar(`${tag}.weight_scale`, ws);
    const [xq, xs, xzp] = g.op('DynamicQuantizeLinear', [x], [], 3);
    const acc = g.one('MatMulInteger', [xq, wq, xzp, wzp]);
    const f = g.one('Cast', [acc], [{ name: 'to', int: ONNX_FLOAT }]);
    return g.one('Add', [g.one('Mul', [f, g.one('Mul', [xs, wscale])]), b]);
  };

  // Patch embedding: Conv 3→768, 16×16 stride 16 → [N, 768, 14, 14] → [N, 196, 768].
  const pw = g.f32('embeddings.patch.weight', [dim, 3, patch, patch], rand(dim * 3 * patch * patch, std(3 * patch * patch)));
  const pb = g.f32('embeddings.patch.bias', [dim], rand(dim, 0.02));
  const conv = g.one('Conv', ['pixel_values', pw, pb], [
    { name: 'kernel_shape', ints: [patch, patch] },
    { name: 'strides', ints: [patch, patch] },
  ]);
  const flat = g.one('Reshape', [conv, g.i64('s_flat', [0, dim, -1])]);
  const patches = g.one('Transpose', [flat], [{ name: 'perm', ints: [0, 2, 1] }]);
  // [CLS] expanded to the batch, prepended; learned position embeddings added.
  const cls = g.f32('embeddings.cls_token', [1, 1, dim], rand(dim, 0.02));
  const batch = g.one('Slice', [g.one('Shape', [patches]), g.i64('s_zero', [0]), g.i64('s_one', [1])]);
  const clsShape = g.one('Concat', [batch, g.i64('s_1x768', [1, dim])], [{ name: 'axis', int: 0 }]);
  const clsB = g.one('Expand', [cls, clsShape]);
  let h = g.one('Concat', [clsB, patches], [{ name: 'axis', int: 1 }]);
  h = g.one('Add', [h, g.f32('embeddings.position', [1, tokens, dim], rand(tokens * dim, 0.02))]);

  const headShape = g.i64('s_heads', [0, -1, heads, dim / heads]);
  const mergeShape = g.i64('s_merge', [0, -1, dim]);
  for (let l = 0; l < layers; l++) {
    const t = `encoder.layer.${l}`;
    const x = layerNorm(h, `${t}.layernorm_before`);
    const split = (name: string, perm: number[]): string =>
      g.one('Transpose', [g.one('Reshape', [linear(x, dim, dim, `${t}.attention.${name}`), headShape])], [{ name: 'perm', ints: perm }]);
    const q = split('query', [0, 2, 1, 3]); // [N, 12, 197, 64]
    const k = split('key', [0, 2, 3, 1]); // [N, 12, 64, 197]
    const v = split('value', [0, 2, 1, 3]);
    const probs = g.one('Softmax', [g.one('Div', [g.one('MatMul', [q, k]), eight])], [{ name: 'axis', int: -1 }]);
    const ctx = g.one('Reshape', [g.one('Transpose', [g.one('MatMul', [probs, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]), mergeShape]);
    h = g.one('Add', [linear(ctx, dim, dim, `${t}.attention.output`), h]);
    const y = layerNorm(h, `${t}.layernorm_after`);
    const u = linear(y, dim, mlp, `${t}.intermediate`);
    const gelu = g.one('Mul', [g.one('Mul', [u, g.one('Add', [g.one('Erf', [g.one('Div', [u, sqrt2])]), oneC])]), half]);
    h = g.one('Add', [linear(gelu, mlp, dim, `${t}.output`), h]);
  }
  const last = layerNorm(h, 'layernorm');
  g.nodes.push(onnxNode('Identity', [last], ['last_hidden_state'], 'out_last'));
  // Pooler: tanh(Dense([CLS])).
  const clsTok = g.one('Gather', [last, g.i64('s_cls', [0])], [{ name: 'axis', int: 1 }]); // [N, 1, 768]
  const pooled = g.one('Tanh', [linear(g.one('Reshape', [clsTok, g.i64('s_pool', [0, dim])]), dim, dim, 'pooler.dense')]);
  g.nodes.push(onnxNode('Identity', [pooled], ['pooler_output'], 'out_pool'));

  const graph = concat([
    ...g.nodes.map((n) => pbBytes(1, n)),
    pbString(2, opts.int8 ? 'vit-b16-random-int8' : 'vit-b16-random'),
    ...g.inits.map((t) => pbBytes(5, t)),
    pbBytes(11, onnxValueInfo('pixel_values', ONNX_FLOAT, ['batch', 3, VIT.image, VIT.image])),
    pbBytes(12, onnxValueInfo('last_hidden_state', ONNX_FLOAT, ['batch', tokens, dim])),
    pbBytes(12, onnxValueInfo('pooler_output', ONNX_FLOAT, ['batch', dim])),
  ]);
  // Opset 13: ReduceMean takes axes as an attribute; DynamicQuantizeLinear / MatMulInteger exist since 10/11.
  return { bytes: onnxModel(graph, 13), params: g.params };
}

