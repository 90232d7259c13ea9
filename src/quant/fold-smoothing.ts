/**
 * Folds per-channel smoothing factors (SmoothQuant, AWQ) into one tensor's f32
 * values in place: x' = x / s after the norm and W' = W * s along the inputs
 * leave the float model unchanged. Rows: ffn_up's output j / s_j makes
 * down_proj's input x_j / s_j (silu(gate) * up is linear in up).
 *   vector (a norm weight or bias) [cols]: divided by s
 *   matrix [rows, cols]: columns multiplied by s, rows divided by rs
 * A tensor-parallel shard starting at column col0 / row0 of the whole tensor
 * takes s[col0 + j] / rs[row0 + r].
 */
export function foldSmoothing(x: Float32Array, rows: number, cols: number, vector: boolean, s?: Float32Array, rs?: Float32Array, at: { col0?: number; row0?: number } = {}): void {
  const c0 = at.col0 ?? 0, r0 = at.row0 ?? 0;
  if (s && vector) for (let j = 0; j < cols; j++) x[j] = x[j]! / s[c0 + j]!;
  else if (s) for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) x[r * cols + j] = x[r * cols + j]! * s[c0 + j]!;
  if (rs && !vector) for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) x[r * cols + j] = x[r * cols + j]! / rs[r0 + r]!;
}
