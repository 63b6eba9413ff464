/**
 * Test helper: tiny ONNX models built with the ModelProto encoder of `src/backbones/onnx-graph.ts`,
 * so the `onnx:` backbone can be exercised without a real network: Identity (rank-4 output) and
 * Reshape (rank-3 "token" output), with static or symbolic batch dims.
 */
import { ONNX_FLOAT, ONNX_INT64, onnxModel, onnxNode, onnxTensor, onnxValueInfo, type Dim } from '../../src/backbones/onnx-graph.js';
import { concat, pbBytes, pbString } from '../../src/backbones/protobuf.js';

const graph = (parts: Uint8Array[]): Uint8Array => concat(parts);

/** y = x, with the given input/output dims (use a string for a symbolic dim). */
export function identityModel(dims: Dim[], inputName = 'pixels', outputName = 'y', opset = 13): Buffer {
  return Buffer.from(
    onnxModel(
      graph([
        pbBytes(1, onnxNode('Identity', [inputName], [outputName], 'Identity_0')),
        pbString(2, 'g'),
        pbBytes(11, onnxValueInfo(inputName, ONNX_FLOAT, dims)),
        pbBytes(12, onnxValueInfo(outputName, ONNX_FLOAT, dims)),
      ]),
      opset,
    ),
  );
}

/**
 * A Reshape model: input [..dims] -> output named `outputName` with shape `shape` (an int64
 * initializer, 0 = copy that input dim, -1 = infer), declared output dims `outDims`.
 */
export function reshapeModel(inputName: string, inDims: Dim[], outputName: string, shape: number[], outDims: Dim[]): Buffer {
  return Buffer.from(
    onnxModel(
      graph([
        pbBytes(1, onnxNode('Reshape', [inputName, 'shape'], [outputName], 'Reshape_0')),
        pbString(2, 'g'),
        pbBytes(5, onnxTensor('shape', ONNX_INT64, [shape.length], shape)),
        pbBytes(11, onnxValueInfo(inputName, ONNX_FLOAT, inDims)),
        pbBytes(12, onnxValueInfo(outputName, ONNX_FLOAT, outDims)),
      ]),
    ),
  );
}

/** [N, C, H, W] -> tokens [N, C, H*W] (Reshape with shape [0, C, H*W]), plus a second output "z" = x. */
export function tokensModel(c: number, h: number, w: number): Buffer {
  return Buffer.from(
    onnxModel(
      graph([
        pbBytes(1, onnxNode('Reshape', ['x', 'shape'], ['tokens'], 'Reshape_0')),
        pbBytes(1, onnxNode('Identity', ['x'], ['z'], 'Identity_0')),
        pbString(2, 'g'),
        pbBytes(5, onnxTensor('shape', ONNX_INT64, [3], [0, c, h * w])),
        pbBytes(11, onnxValueInfo('x', ONNX_FLOAT, ['N', c, h, w])),
        pbBytes(12, onnxValueInfo('tokens', ONNX_FLOAT, ['N', c, h * w])),
        pbBytes(12, onnxValueInfo('z', ONNX_FLOAT, ['N', c, h, w])),
      ]),
    ),
  );
}

/**
 * `op` (a unary ONNX operator such as Identity or Log) applied to an [N, 1, H, W] image, then
 * flattened to features [N, H*W] named `outputName` (any string, e.g. one with escape sequences).
 * Log of the ImageNet-normalised pixels (mostly negative) gives NaN and -Inf features.
 */
export function flatFeaturesModel(op: 'Identity' | 'Log', h: number, w: number, outputName = 'features'): Buffer {
  return Buffer.from(
    onnxModel(
      graph([
        pbBytes(1, onnxNode(op, ['x'], ['y'], `${op}_0`)),
        pbBytes(1, onnxNode('Reshape', ['y', 'shape'], [outputName], 'Reshape_0')),
        pbString(2, 'g'),
        pbBytes(5, onnxTensor('shape', ONNX_INT64, [2], [0, -1])),
        pbBytes(11, onnxValueInfo('x', ONNX_FLOAT, ['N', 1, h, w])),
        pbBytes(12, onnxValueInfo(outputName, ONNX_FLOAT, ['N', h * w])),
      ]),
    ),
  );
}
