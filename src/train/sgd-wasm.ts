/**
 * The SGD update of a linear head as one WebAssembly SIMD loop: what the wasm-mlas backend's
 * linear-head step (train/linear-step.ts) does after onnxruntime has computed ∂L/∂W.
 *
 * Per value, in float32 and in this order (torch.optim.SGD with coupled weight decay and
 * dampening 0; train/optimizers.ts Sgd does the same in tfjs):
 *   g' = ∂L/∂W + W·wd;  v' = v·μ + g';  W' = max(W − v'·lr, floor)
 * with floor = 0 when clipping and −∞ otherwise (max(x, −∞) = x, and a NaN stays NaN either way).
 * Every product and sum is rounded to float32 on its own (WebAssembly has no fused multiply-add
 * in its SIMD baseline), so the result is bit for bit that of the same operations done one by
 * one as separate float32 array passes — and it reads W, v and ∂L/∂W once and writes W and v
 * once, where seven separate passes (onnxruntime elementwise nodes) moved about four times the
 * memory: at 100 classes × 1280 features those passes took ~0.35 ms of a ~1.3 ms step (measured
 * with onnxruntime's profiler, docs/performance.md).
 *
 * The three arrays live in the module's own memory (an SgdArena), so onnxruntime reads W from and
 * writes ∂L/∂W into it directly, with no copy.
 *
 * The module is about 200 bytes, assembled below opcode by opcode (WebAssembly 2.0 binary format,
 * SIMD opcodes under the 0xFD prefix).
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
/** v128.load / v128.store with a 16-byte alignment hint, offset 0 (the arena aligns every array). */
const load = (): number[] => [...simd(0x00), 4, 0];
const store = (): number[] => [...simd(0x0b), 4, 0];
const f32x4 = { splat: simd(0x13), add: simd(0xe4), sub: simd(0xe5), mul: simd(0xe6), max: simd(0xe9) };

/** sgd(w, v, g, n, lr, mu, wd, floor): n (a multiple of 4) float32 values at byte offsets w, v, g. */
function sgdModuleBytes(): Uint8Array {
  // Parameters 0–7: w v g n (i32), lr mu wd floor (f32). Locals: 8 end (i32); 9–12 lr4 mu4 wd4
  // floor4, 13 wx, 14 vx (v128).
  const [W, V, G, N, LR, MU, WD, FLOOR, END, LR4, MU4, WD4, FLOOR4, WX, VX] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const body = [
    ...[2, 1, I32, 6, V128], // local groups: 1 × i32, 6 × v128
    // end = w + 4·n
    ...get(W), ...get(N), 0x41, 2, 0x74, 0x6a, ...set(END),
    ...get(LR), ...f32x4.splat, ...set(LR4),
    ...get(MU), ...f32x4.splat, ...set(MU4),
    ...get(WD), ...f32x4.splat, ...set(WD4),
    ...get(FLOOR), ...f32x4.splat, ...set(FLOOR4),
    0x02, 0x40, // block
    ...get(W), ...get(END), 0x4f, 0x0d, 0, // br_if 0 when w >= end (n = 0)
    0x03, 0x40, // loop
    // wx = W[i]
    ...get(W), ...load(), ...set(WX),
    // v[i] = vx = v[i]·μ + (g[i] + wx·wd)
    ...get(V),
    ...get(V), ...load(), ...get(MU4), ...f32x4.mul,
    ...get(G), ...load(), ...get(WX), ...get(WD4), ...f32x4.mul, ...f32x4.add,
    ...f32x4.add, ...tee(VX),
    ...store(),
    // W[i] = max(wx − vx·lr, floor)
    ...get(W),
    ...get(WX), ...get(VX), ...get(LR4), ...f32x4.mul, ...f32x4.sub, ...get(FLOOR4), ...f32x4.max,
    ...store(),
    // w += 16; v += 16; g += 16; again while w < end
    ...get(W), 0x41, 16, 0x6a, ...set(W),
    ...get(V), 0x41, 16, 0x6a, ...set(V),
    ...get(G), 0x41, 16, 0x6a, ...set(G),
    ...get(W), ...get(END), 0x49, 0x0d, 0, // br_if 0 (the loop) when w < end
    0x0b, // end loop
    0x0b, // end block
    0x0b, // end function
  ];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    ...section(1, [1, 0x60, 8, I32, I32, I32, I32, F32, F32, F32, F32, 0]), // one type: 8 params, no result
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]), // import env.memory, min 1 page
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(7, [1, ...name('sgd'), 0x00, 0]), // export "sgd" = function 0
    ...section(10, [1, ...uleb(body.length), ...body]),
  ];
  return Uint8Array.from(bytes);
}

/** The part of the WebAssembly JS API used here (this project's TypeScript libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;

function sgdModule(): object {
  if (!compiled) compiled = new wasm.Module(sgdModuleBytes());
  return compiled;
}

type SgdFn = (w: number, v: number, g: number, n: number, lr: number, mu: number, wd: number, floor: number) => void;

const PAGE = 65536;

/**
 * W, its velocity v and the gradient ∂L/∂W of one head, n float32 values each, in a WebAssembly
 * memory of their own: `w`, `v`, `grad` are views on it (pass them to onnxruntime as they are).
 * v starts at zero, as an SGD optimizer's momentum buffer does.
 */
export class SgdArena {
  readonly w: Float32Array;
  readonly v: Float32Array;
  readonly grad: Float32Array;
  private readonly run: SgdFn;
  private readonly offsets: [number, number, number];
  private readonly padded: number;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`SgdArena: size must be a non-negative integer, got ${size}`);
    // Each array padded to a multiple of 4 values (16 bytes): the loop runs whole vectors, and the
    // padding (zeros in all three) stays zero.
    this.padded = Math.ceil(size / 4) * 4;
    const bytes = this.padded * 4;
    const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil((3 * bytes) / PAGE)) });
    const instance = new wasm.Instance(sgdModule(), { env: { memory } });
    this.run = instance.exports.sgd as SgdFn;
    this.offsets = [0, bytes, 2 * bytes];
    this.w = new Float32Array(memory.buffer, 0, size);
    this.v = new Float32Array(memory.buffer, bytes, size);
    this.grad = new Float32Array(memory.buffer, 2 * bytes, size);
  }

  /** One SGD step on w and v from grad (the equations at the top of this file). */
  step(lr: number, momentum: number, weightDecay: number, clip: boolean): void {
    const [w, v, g] = this.offsets;
    this.run(w, v, g, this.padded, lr, momentum, weightDecay, clip ? 0 : -Infinity);
  }
}
