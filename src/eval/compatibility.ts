/**
 * Compatibility matrix metrics (docs/protocols.md "Compatibility (embedding upgrades)"). C[i][j] = M(φ^i on Q, φ^j on G) for j ≤ i
 * (rows: query model, columns: gallery model; diagonal: self-test). Cells above the diagonal are
 * never read. 0-based indices here.
 */

export type CompatibilityMatrix = number[][];

function checkTriangle(C: CompatibilityMatrix): void {
  if (C.length === 0) throw new RangeError('compatibility matrix is empty');
  C.forEach((row, i) => {
    if (row.length < i + 1) throw new RangeError(`compatibility matrix: row ${i} has ${row.length} cells, needs ${i + 1}`);
    for (let j = 0; j <= i; j++) {
      if (!Number.isFinite(row[j])) throw new RangeError(`compatibility matrix: C[${i}][${j}] = ${row[j]} is not finite`);
    }
  });
}

/**
 * Empirical compatibility criterion (BCT, Shen et al., arXiv 2003.11942), strict:
 * ok[i][j] = C[i][j] > C[j][j] for every j < i (row i has i entries; row 0 is empty).
 */
export function compatibilityCriterion(C: CompatibilityMatrix): boolean[][] {
  checkTriangle(C);
  return C.map((row, i) => row.slice(0, i).map((v, j) => v > C[j][j]));
}

/** AC = 2/(T(T−1)) Σ_{i} Σ_{j<i} 1[C[i][j] > C[j][j]] (CoReS, Biondi et al.); null when T = 1. */
export function ac(C: CompatibilityMatrix): number | null {
  const ok = compatibilityCriterion(C);
  const T = C.length;
  if (T < 2) return null;
  const passed = ok.reduce((s, row) => s + row.filter(Boolean).length, 0);
  return passed / ((T * (T - 1)) / 2);
}

/** AM = 2/(T(T+1)) Σ_i Σ_{j≤i} C[i][j]: the mean of every lower-triangle cell (a genuine 0 counts). */
export function am(C: CompatibilityMatrix): number {
  checkTriangle(C);
  const T = C.length;
  let sum = 0;
  for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) sum += C[i][j];
  return sum / ((T * (T + 1)) / 2);
}

/** AC of the leading t×t sub-matrix for t = 2..T (one value per upgrade step). */
export function acPerStep(C: CompatibilityMatrix): number[] {
  checkTriangle(C);
  const out: number[] = [];
  for (let t = 2; t <= C.length; t++) out.push(ac(C.slice(0, t)) as number);
  return out;
}
