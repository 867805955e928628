package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * Rotary position embeddings in the Hugging Face "rotate half" layout, with the {@code llama3}
 * frequency scaling. The cos and sin tables cover every position up to the model's context.
 */
final class Rope {

  private final NDArray cos; // [P, hd]
  private final NDArray sin; // [P, hd]
  private final double[] invFreq;

  Rope(LlamaConfig c, NDManager manager, DataType dtype) {
    int hd = c.headDim();
    int positions = c.maxPositionEmbeddings();
    this.invFreq = inverseFrequencies(c);
    float[] cosTable = new float[positions * hd];
    float[] sinTable = new float[positions * hd];
    for (int p = 0; p < positions; p++) {
      fill(cosTable, sinTable, p * hd, p, hd);
    }
    Shape shape = new Shape(positions, hd);
    cos = manager.create(cosTable, shape).toType(dtype, false);
    sin = manager.create(sinTable, shape).toType(dtype, false);
  }

  /** cos and sin of one position's angles, both halves, at {@code at} of the two tables. */
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

  /** The cos and sin of a forward's positions, looked up once and used by every layer. */
  record Angles(NDArray cos, NDArray sin) {}

  /**
   * Angles [T, hd] for tokens at positions start .. start+T-1 (broadcast over batch and heads).
   *
   * @throws IllegalArgumentException if the positions run past the model's context
   */
  Angles at(int start, int t) {
    checkContext(start + t);
    NDIndex rows = new NDIndex("{}:{}", start, start + t);
    return new Angles(cos.get(rows), sin.get(rows));
  }

  /**
   * Angles [B, 1, T, hd] for a left-padded batch: slot start+i of row r holds position start + i -
   * leftPad[r] (pad slots, which attention never reads, get position 0).
   */
  Angles at(int start, int t, int[] leftPad, NDManager m) {
    long[] positions = new long[leftPad.length * t];
    for (int r = 0; r < leftPad.length; r++) {
      for (int i = 0; i < t; i++) {
        positions[r * t + i] = Math.max(0, start + i - leftPad[r]);
      }
    }
    checkContext(start + t - Arrays.stream(leftPad).min().orElse(0));
    NDArray index = m.create(positions);
    Shape shape = new Shape(leftPad.length, 1, t, cos.getShape().get(1)); // broadcast over heads
    return new Angles(cos.get(index).reshape(shape), sin.get(index).reshape(shape));
  }

  private void checkContext(int end) {
    if (end > cos.getShape().get(0)) {
      throw new IllegalArgumentException(
          "sequence of " + end + " tokens exceeds the context of " + cos.getShape().get(0));
    }
  }

  /** Rotates x [B, heads, T, hd] by the angles of its positions. */
  NDArray apply(NDArray x, Angles a) {
    return rotate(x, a.cos(), a.sin());
  }

  private static NDArray rotate(NDArray x, NDArray c, NDArray s) {
    long hd = x.getShape().get(3);
    NDArray x1 = x.get(new NDIndex("..., :{}", hd / 2));
    NDArray x2 = x.get(new NDIndex("..., {}:", hd / 2));
    NDArray rotated = x2.neg().concat(x1, -1); // [B, heads, T, hd]
    return x.mul(c).add(rotated.mul(s));
  }
}
