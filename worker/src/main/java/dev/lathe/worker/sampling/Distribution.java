package dev.lathe.worker.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Turns one row of logits into a token: greedy at temperature 0, else a draw from softmax(z/T)
 * restricted to the top-k tokens and then to the smallest set whose mass reaches top-p. The
 * reported log-probability is that of the token under softmax(z/T) over the whole vocabulary
 * (softmax(z) when greedy).
 */
final class Distribution {

  private Distribution() {}

  static Sampler.Pick pick(
      float[] logits, int offset, int vocab, Sampler.Request req, SplittableRandom rng) {
    double t = req.temperature();
    double scale = t == 0 ? 1 : 1 / t;
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      max = Math.max(max, logits[offset + i] * scale);
    }
    double[] p = new double[vocab];
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      p[i] = Math.exp(logits[offset + i] * scale - max);
      sum += p[i];
    }
    double logSum = Math.log(sum) + max;
    int token;
    if (t == 0 || req.topK() == 1) {
      token = argmax(logits, offset, vocab);
    } else {
      token = draw(p, sum, req.topK(), req.topP(), rng);
    }
    return new Sampler.Pick(token, (float) (logits[offset + token] * scale - logSum));
  }

  private static int draw(double[] p, double sum, int topK, double topP, SplittableRandom rng) {
    int vocab = p.length;
    if (topK < 0 && topP >= 1) {
      double u = rng.nextDouble() * sum;
      for (int i = 0; i < vocab; i++) {
        u -= p[i];
        if (u < 0) {
          return i;
        }
      }
      return vocab - 1;
    }
    Integer[] order = new Integer[vocab];
    for (int i = 0; i < vocab; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
    int keep = topK < 0 ? vocab : Math.min(topK, vocab);
    double kept = 0;
    for (int i = 0; i < keep; i++) {
      kept += p[order[i]];
    }
    if (topP < 1) {
      double mass = 0;
      for (int i = 0; i < keep; i++) {
        mass += p[order[i]] / kept;
        if (mass >= topP) {
          keep = i + 1;
          break;
        }
      }
      kept = 0;
      for (int i = 0; i < keep; i++) {
        kept += p[order[i]];
      }
    }
    double u = rng.nextDouble() * kept;
    for (int i = 0; i < keep; i++) {
      u -= p[order[i]];
      if (u < 0) {
        return order[i];
      }
    }
    return order[keep - 1];
  }

  static int argmax(float[] v, int offset, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (v[offset + i] > v[offset + best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * Indices of the k largest values, largest first (ties by lower index): one pass keeping a sorted
   * window of k, so a 150k vocabulary costs a scan, not a sort.
   */
  static int[] topK(float[] v, int offset, int n, int k) {
    k = Math.min(k, n);
    int[] top = new int[k];
    int size = 0;
    for (int i = 0; i < n; i++) {
      float x = v[offset + i];
      if (size == k && !(x > v[offset + top[k - 1]])) {
        continue; // not above the smallest kept (equal loses: the lower index came first)
      }
      int at = size == k ? k - 1 : size++;
      while (at > 0 && x > v[offset + top[at - 1]]) {
        top[at] = top[at - 1];
        at--;
      }
      top[at] = i;
    }
    return top;
  }

  /**
   * The k most likely tokens of one row of logits and their log-probabilities under the
   * distribution {@link #pick} reports a token's log-probability in: softmax(z/T), softmax(z) when
   * greedy.
   */
  static Top top(float[] logits, int offset, int vocab, double temperature, int k) {
    double scale = temperature == 0 ? 1 : 1 / temperature;
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      max = Math.max(max, logits[offset + i] * scale);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      sum += Math.exp(logits[offset + i] * scale - max);
    }
    double logSum = Math.log(sum) + max;
    int[] ids = topK(logits, offset, vocab, k);
    float[] logprobs = new float[ids.length];
    for (int j = 0; j < ids.length; j++) {
      logprobs[j] = (float) (logits[offset + ids[j]] * scale - logSum);
    }
    return new Top(ids, logprobs);
  }

  /** Token ids, most likely first, and their log-probabilities. */
  record Top(int[] ids, float[] logprobs) {}
}
