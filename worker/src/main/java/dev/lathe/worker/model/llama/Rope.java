package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embeddings in the Hugging Face "rotate half" layout, with the {@code llama3}
 * frequency scaling. The cos and sin tables cover every position up to the model's context.
 */
final class Rope {

  private final NDArray cos; // [P, hd]
  private final NDArray sin; // [P, hd]
  private final double[] invFreq;
  private final DataType dtype;

  Rope(LlamaConfig c, NDManager manager, DataType dtype) {
    int hd = c.headDim();
    int positions = c.maxPositionEmbeddings();
    this.invFreq = inverseFrequencies(c);
    this.dtype = dtype;
    float[] cosTable = new float[positions * hd];
    float[] sinTable = new float[positions * hd];
    for (int p = 0; p < positions; p++) {
      fill(cosTable, sinTable, p * hd, p, hd);
    }
    Shape shape = new Shape(positions, hd);
    cos = manager.create(cosTable, shape).toType(dtype, false);
    sin = manager.create(sinTable, shape).toType(dtype, false);
  }

  /** cos and sin of one position's angles, both halves, at {@code at} of the two arrays. */
  private void fill(float[] cos, float[] sin, int at, int position, int hd) {
    for (int k = 0; k < hd / 2; k++) {
      // Hugging Face computes the angles in float32 whatever the model's dtype; so do we.
      float angle = (float) position * (float) invFreq[k];
      cos[at + k] = cos[at + k + hd / 2] = (float) Math.cos(angle);
      sin[at + k] = sin[at + k + hd / 2] = (float) Math.sin(angle);
    }
  }

  static double[] inverseFrequencies(LlamaConfig c) {
    int hd = c.headDim();
    double[] inv = new double[hd / 2];
    for (int i = 0; i < inv.length; i++) {
      inv[i] = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / hd));
    }
    LlamaConfig.RopeScaling s = c.ropeScaling();
    if (s != null && "llama3".equals(s.kind())) {
      double factor = s.factor();
      double low = s.lowFreqFactor();
      double high = s.highFreqFactor();
      double original = s.originalMaxPositionEmbeddings();
      double lowWavelen = original / low;
      double highWavelen = original / high;
      for (int i = 0; i < inv.length; i++) {
        double wavelen = 2 * Math.PI / inv[i];
        if (wavelen > lowWavelen) {
          inv[i] = inv[i] / factor;
        } else if (wavelen >= highWavelen) {
          double smooth = (original / wavelen - low) / (high - low);
          inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
        }
      }
    }
    return inv;
  }

  /**
   * Rotates x [B, heads, T, hd] whose tokens sit at positions start .. start+T-1.
   *
   * @throws IllegalArgumentException if the positions run past the model's context
   */
  NDArray apply(NDArray x, int start) {
    long t = x.getShape().get(2);
    long hd = x.getShape().get(3);
    if (start + t > cos.getShape().get(0)) {
      throw new IllegalArgumentException(
          "sequence of " + (start + t) + " tokens exceeds the context of " + cos.getShape().get(0));
    }
    NDIndex rows = new NDIndex("{}:{}", start, start + t);
    return rotate(x, cos.get(rows), sin.get(rows)); // [T, hd], broadcast over [B, heads]
  }

  /**
   * Rotates x [B, heads, T, hd] of a left-padded batch: slot start+i of row r holds position start
   * + i - leftPad[r] (pad slots, which attention never reads, get position 0).
   */
  NDArray apply(NDArray x, int start, int[] leftPad) {
    int b = (int) x.getShape().get(0);
    int t = (int) x.getShape().get(2);
    int hd = (int) x.getShape().get(3);
    float[] c = new float[b * t * hd];
    float[] s = new float[b * t * hd];
    for (int r = 0; r < b; r++) {
      for (int i = 0; i < t; i++) {
        fill(c, s, (r * t + i) * hd, Math.max(0, start + i - leftPad[r]), hd);
      }
    }
    NDManager m = x.getManager();
    Shape shape = new Shape(b, 1, t, hd); // broadcast over heads
    return rotate(
        x, m.create(c, shape).toType(dtype, false), m.create(s, shape).toType(dtype, false));
  }

  private static NDArray rotate(NDArray x, NDArray c, NDArray s) {
    long hd = x.getShape().get(3);
    NDArray x1 = x.get(new NDIndex("..., :{}", hd / 2));
    NDArray x2 = x.get(new NDIndex("..., {}:", hd / 2));
    NDArray rotated = x2.neg().concat(x1, -1); // [B, heads, T, hd]
    return x.mul(c).add(rotated.mul(s));
  }
}
