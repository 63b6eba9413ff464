import { expect } from 'chai';
import { initBackend, tf } from '../../src/tf.js';
import { crossEntropy, distillation, l2Penalty, softTargets } from '../../src/train/losses.js';

describe('train/losses', () => {
  before(async () => {
    await initBackend();
  });

  it('cross-entropy equals the hand-computed mean −log softmax', () => {
    const v = tf.tidy(() =>
      crossEntropy(tf.tensor2d([[1, 2, 3], [0, 0, 0]]), tf.tensor1d([2, 1], 'int32')).dataSync()[0],
    );
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const expected = ((lse - 3) + Math.log(3)) / 2;
    expect(v).to.be.closeTo(expected, 1e-6);
  });

  it('KD values of docs/methods/wa.md "Tests": ln 2 for equal zero logits, 1.044320 for (2,0) vs (0,2) at T = 2', () => {
    const [a, b] = tf.tidy(() => {
      const q0 = softTargets(tf.tensor2d([[0, 0]]), 2);
      const q1 = softTargets(tf.tensor2d([[0, 2]]), 2);
      return [
        distillation(tf.tensor2d([[0, 0]]), q0, 2).dataSync()[0],
        distillation(tf.tensor2d([[2, 0]]), q1, 2).dataSync()[0],
      ];
    });
    expect(a).to.be.closeTo(Math.LN2, 1e-6);
    expect(a).to.be.closeTo(0.693147, 1e-6);
    expect(b).to.be.closeTo(1.04432, 1e-5);
  });

  it('only the first n student logits enter KD', () => {
    const [base, extended] = tf.tidy(() => {
      const q = softTargets(tf.tensor2d([[0.3, -1, 2]]), 2);
      return [
        distillation(tf.tensor2d([[1, 0.5, -0.2]]), q, 2).dataSync()[0],
        distillation(tf.tensor2d([[1, 0.5, -0.2, 7.5, -3]]), q, 2).dataSync()[0],
      ];
    });
    expect(extended).to.equal(base);
  });

  it('KD has zero gradient and is minimal where the student equals the teacher', () => {
    const teacher = [
      [0.5, -1.2, 2.0],
      [1.0, 0.0, -0.5],
    ];
    const { grad, atTeacher, perturbed } = tf.tidy(() => {
      const q = softTargets(tf.tensor2d(teacher), 2);
      const student = tf.tensor2d([
        [0.5, -1.2, 2.0, 9],
        [1.0, 0.0, -0.5, -4],
      ]);
      const g = tf.grad((s: tf.Tensor) => distillation(s as tf.Tensor2D, q, 2))(student);
      const kd = (s: number[][]) => distillation(tf.tensor2d(s), q, 2).dataSync()[0];
      const perturbedValues = [0.3, -0.3].flatMap((eps) =>
        [0, 1, 2].map((k) => kd(teacher.map((row, i) => row.map((v, j) => (i === 0 && j === k ? v + eps : v))))),
      );
      return { grad: Array.from(g.dataSync()), atTeacher: kd(teacher), perturbed: perturbedValues };
    });
    for (const g of grad) expect(Math.abs(g)).to.be.lessThan(1e-7);
    for (const p of perturbed) expect(p).to.be.greaterThan(atTeacher);
  });

  it('l2Penalty is (wd/2)·Σθ²', () => {
    const v = tf.tidy(() => l2Penalty([tf.tensor1d([1, 2]), tf.tensor2d([[3]])], 0.1).dataSync()[0]);
    expect(v).to.be.closeTo(0.05 * 14, 1e-6);
  });
});
