/**
 * Test helper: writes tiny ONNX models (a hand-encoded ModelProto, onnx.proto field numbers) so the
 * `onnx:` backbone can be exercised without a real network: Identity (rank-4 output) and Reshape
 * (rank-3 "token" output), with static or symbolic batch dims.
 */

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const vint = (field: number, n: number): number[] => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: number[] | Uint8Array): number[] => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, Array.from(Buffer.from(s, 'utf8')));

type Dim = number | string;

function valueInfo(name: string, dims: Dim[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? vint(1, d) : str(2, d)));
  const tensor = [...vint(1, 1 /* FLOAT */), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensor))];
}

function node(op: string, inputs: string[], outputs: string[]): number[] {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, `${op}_0`), ...str(4, op)];
}

function int64Initializer(name: string, values: number[]): number[] {
  const raw = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
  return [...vint(1, values.length), ...vint(2, 7 /* INT64 */), ...str(8, name), ...bytes(9, raw)];
}

function model(graph: number[]): Buffer {
  const opset = [...str(1, ''), ...vint(2, 13)];
  return Buffer.from([...vint(1, 8 /* ir_version */), ...str(2, 'cl-test'), ...bytes(7, graph), ...bytes(8, opset)]);
}

/** y = x, with the given input/output dims (use a string for a symbolic dim). */
export function identityModel(dims: Dim[], inputName = 'pixels', outputName = 'y'): Buffer {
  return model([...bytes(1, node('Identity', [inputName], [outputName])), ...str(2, 'g'), ...bytes(11, valueInfo(inputName, dims)), ...bytes(12, valueInfo(outputName, dims))]);
}

/**
 * A Reshape model: input [..dims] -> output named `outputName` with shape `shape` (an int64
 * initializer, 0 = copy that input dim, -1 = infer), declared output dims `outDims`.
 */
export function reshapeModel(inputName: string, inDims: Dim[], outputName: string, shape: number[], outDims: Dim[]): Buffer {
  return model([
    ...bytes(1, node('Reshape', [inputName, 'shape'], [outputName])),
    ...str(2, 'g'),
    ...bytes(5, int64Initializer('shape', shape)),
    ...bytes(11, valueInfo(inputName, inDims)),
    ...bytes(12, valueInfo(outputName, outDims)),
  ]);
}

/** [N, C, H, W] -> tokens [N, C, H*W] (Reshape with shape [0, C, H*W]), plus a second output "z" = x. */
export function tokensModel(c: number, h: number, w: number): Buffer {
  return model([
    ...bytes(1, node('Reshape', ['x', 'shape'], ['tokens'])),
    ...bytes(1, node('Identity', ['x'], ['z'])),
    ...str(2, 'g'),
    ...bytes(5, int64Initializer('shape', [0, c, h * w])),
    ...bytes(11, valueInfo('x', ['N', c, h, w])),
    ...bytes(12, valueInfo('tokens', ['N', c, h * w])),
    ...bytes(12, valueInfo('z', ['N', c, h, w])),
  ]);
}
