package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import dev.lathe.worker.engine.Scalars;
import dev.lathe.worker.store.TensorSource;

/**
 * The Llama-family decoder: embeddings, then per layer RMSNorm → grouped-query attention with RoPE
 * → residual → RMSNorm → SwiGLU MLP → residual, then RMSNorm and the unembedding. The weights are
 * frozen; a {@link LoraHook} adds adapter deltas after every adaptable linear.
 *
 * <p>Intermediate arrays are created in whatever {@code NDScope} the caller has open.
 */
public final class Llama {

  private final LlamaConfig config;
  private final LlamaWeights weights;
  private final Rope rope;
  private final DataType dtype;
  private final NDArray attentionScale; // 1/√head_dim, a tensor so that backward can read it

  public Llama(LlamaConfig config, LlamaWeights weights, NDManager manager, DataType dtype) {
    this.config = config;
    this.weights = weights;
    this.dtype = dtype;
    this.rope = new Rope(config, manager, dtype);
    this.attentionScale = Scalars.of(manager, 1.0 / Math.sqrt(config.headDim()), dtype);
  }

  /** Loads a checkpoint's weights into {@code manager} as {@code dtype}. */
  public static Llama load(
      LlamaConfig config, TensorSource source, NDManager manager, DataType dtype) {
    return new Llama(config, LlamaWeights.load(config, source, manager, dtype), manager, dtype);
  }

  public LlamaConfig config() {
    return config;
  }

  public LlamaWeights weights() {
    return weights;
  }

  public DataType dtype() {
    return dtype;
  }

  /**
   * Logits for a right-padded batch.
   *
   * @param tokens [B, T] token ids (int64)
   * @param lengths valid tokens per row, or null if no row is padded
   * @param cache keys and values of earlier positions, or null
   * @return logits [B, T, V]; position t predicts the token after tokens[:, t]
   */
  public NDArray forward(NDArray tokens, int[] lengths, LoraHook lora, KvCache cache) {
    return forward(tokens, lengths, null, lora, cache, false);
  }

  /**
   * Logits of the last position only, as a prefill that needs just the next token's distribution:
   * the unembedding runs on one position instead of all (a prompt of 2,048 tokens over a 150k
   * vocabulary would otherwise make 1.2 GB of float32 logits).
   *
   * @param tokens [B, T] token ids (int64), no padding
   * @return logits [B, 1, V]
   */
  public NDArray forwardLast(NDArray tokens, LoraHook lora, KvCache cache) {
    return forward(tokens, null, null, lora, cache, true);
  }

  /**
   * Logits for a left-padded batch, as sampling decodes requests of different prompt lengths
   * together: row r's first {@code leftPad[r]} cache slots are padding that no query attends to,
   * and its token in slot s sits at position s - leftPad[r].
   *
   * @param tokens [B, T] token ids (int64)
   * @return logits [B, T, V]
   */
  public NDArray forwardLeftPadded(NDArray tokens, int[] leftPad, LoraHook lora, KvCache cache) {
    return forward(tokens, null, leftPad, lora, cache, false);
  }

  private NDArray forward(
      NDArray tokens, int[] lengths, int[] leftPad, LoraHook lora, KvCache cache, boolean last) {
    NDManager m = tokens.getManager();
    int batch = (int) tokens.getShape().get(0);
    int t = (int) tokens.getShape().get(1);
    int start = cache == null ? 0 : cache.length();
    NDArray mask = attentionMask(m, batch, t, start, lengths, leftPad); // [B, 1, 1, T, S]
    Rope.Angles angles = leftPad == null ? rope.at(start, t) : rope.at(start, t, leftPad, m);

    NDArray x = weights.embed().get(tokens.reshape(-1)).reshape(batch, t, config.hiddenSize());
    for (int l = 0; l < config.numHiddenLayers(); l++) {
      LlamaWeights.Layer w = weights.layers().get(l);
      x = x.add(attention(l, w, rmsNorm(x, w.inputNorm()), mask, angles, lora, cache));
      x = x.add(mlp(l, w, rmsNorm(x, w.postNorm()), lora));
    }
    if (cache != null) {
      cache.advance(t);
    }
    if (last) {
      x = x.get(":, -1:, :"); // [B, 1, hidden]
    }
    NDArray h = rmsNorm(x, weights.norm());
    return linear(-1, Module.LM_HEAD, h, weights.lmHead(), null, lora);
  }

  private NDArray attention(
      int l,
      LlamaWeights.Layer w,
      NDArray x,
      NDArray mask,
      Rope.Angles angles,
      LoraHook lora,
      KvCache cache) {
    long b = x.getShape().get(0);
    long t = x.getShape().get(1);
    int heads = config.numAttentionHeads();
    int kvHeads = config.numKeyValueHeads();
    int hd = config.headDim();
    int group = heads / kvHeads;

    NDArray q = linear(l, Module.Q_PROJ, x, w.q(), w.qBias(), lora); // [B, T, H*hd]
    NDArray k = linear(l, Module.K_PROJ, x, w.k(), w.kBias(), lora); // [B, T, KV*hd]
    NDArray v = linear(l, Module.V_PROJ, x, w.v(), w.vBias(), lora);
    q = q.reshape(b, t, heads, hd).transpose(0, 2, 1, 3); // [B, H, T, hd]
    k = k.reshape(b, t, kvHeads, hd).transpose(0, 2, 1, 3); // [B, KV, T, hd]
    q = rope.apply(q, angles);
    k = rope.apply(k, angles);
    v = v.reshape(b, t, kvHeads, hd).transpose(0, 2, 1, 3);
    if (cache != null) {
      NDArray[] kv = cache.append(l, k, v); // [B, KV, S, hd], S = start + T
      k = kv[0];
      v = kv[1];
    }
    long s = k.getShape().get(2);
    // Grouped-query attention: each KV head serves `group` query heads.
    NDArray qg = q.reshape(b, kvHeads, group, t, hd); // [B, KV, g, T, hd]
    NDArray kg = k.reshape(b, kvHeads, 1, s, hd).transpose(0, 1, 2, 4, 3); // [B, KV, 1, hd, S]
    NDArray scores = qg.matMul(kg).mul(attentionScale).add(mask); // [B, KV, g, T, S]
    NDArray probs = scores.softmax(-1);
    NDArray out = probs.matMul(v.reshape(b, kvHeads, 1, s, hd)); // [B, KV, g, T, hd]
    out = out.reshape(b, heads, t, hd).transpose(0, 2, 1, 3).reshape(b, t, (long) heads * hd);
    return linear(l, Module.O_PROJ, out, w.o(), w.oBias(), lora); // [B, T, hidden]
  }

  private NDArray mlp(int l, LlamaWeights.Layer w, NDArray x, LoraHook lora) {
    NDArray gate = linear(l, Module.GATE_PROJ, x, w.gate(), null, lora); // [B, T, I]
    NDArray up = linear(l, Module.UP_PROJ, x, w.up(), null, lora); // [B, T, I]
    NDArray act = gate.mul(Activation.sigmoid(gate)).mul(up); // SiLU(gate) * up
    return linear(l, Module.DOWN_PROJ, act, w.down(), null, lora); // [B, T, hidden]
  }

  private static NDArray linear(
      int l, Module module, NDArray x, NDArray weight, NDArray bias, LoraHook lora) {
    NDArray y = lora.apply(l, module, x, weight, x.matMul(weight.transpose()));
    return bias == null ? y : y.add(bias);
  }

  private NDArray rmsNorm(NDArray x, NDArray weight) {
    NDArray variance = x.square().mean(new int[] {-1}, true);
    return x.div(variance.add(config.rmsNormEps()).sqrt()).mul(weight);
  }

  /**
   * Additive mask [B, 1, 1, T, S] for queries at slots start..start+T-1 over keys 0..S-1: causal,
   * keys at or past a row's length hidden, and a left-padded row's pad slots hidden.
   */
  private NDArray attentionMask(
      NDManager m, int batch, int t, int start, int[] lengths, int[] leftPad) {
    int s = start + t;
    float neg = -1e9f;
    float[] mask = new float[batch * t * s];
    for (int r = 0; r < batch; r++) {
      int valid = lengths == null ? s : start + lengths[r];
      for (int i = 0; i < t; i++) {
        int limit = Math.min(start + i, Math.max(valid - 1, 0));
        int first = leftPad == null ? 0 : leftPad[r];
        for (int j = 0; j < s; j++) {
          mask[(r * t + i) * s + j] = j <= limit && j >= first ? 0f : neg;
        }
      }
    }
    return m.create(mask, new Shape(batch, 1, 1, t, s)).toType(dtype, false);
  }
}
