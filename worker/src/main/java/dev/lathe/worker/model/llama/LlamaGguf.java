package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.store.Gguf;
import dev.lathe.worker.store.TensorSource;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Llama model in llama.cpp's GGUF layout, read as the Hugging Face one: the config from the
 * {@code llama.*} metadata, tensors under their Hugging Face names, dequantised to float32. The
 * converter that wrote the file permuted the rows of q_proj and k_proj (per head, from halves to
 * interleaved pairs, for its RoPE); they are permuted back here.
 */
public final class LlamaGguf {

  private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

  /** Hugging Face name within a layer → llama.cpp name within a block. */
  private static final Map<String, String> IN_LAYER =
      Map.of(
          "input_layernorm.weight", "attn_norm.weight",
          "self_attn.q_proj.weight", "attn_q.weight",
          "self_attn.k_proj.weight", "attn_k.weight",
          "self_attn.v_proj.weight", "attn_v.weight",
          "self_attn.o_proj.weight", "attn_output.weight",
          "post_attention_layernorm.weight", "ffn_norm.weight",
          "mlp.gate_proj.weight", "ffn_gate.weight",
          "mlp.up_proj.weight", "ffn_up.weight",
          "mlp.down_proj.weight", "ffn_down.weight");

  private static final Map<String, String> TOP =
      Map.of(
          "model.embed_tokens.weight", "token_embd.weight",
          "model.norm.weight", "output_norm.weight",
          "lm_head.weight", "output.weight");

  private LlamaGguf() {}

  /**
   * The model's config, as a Hugging Face {@code config.json} would give it.
   *
   * @throws IllegalArgumentException naming the metadata key that is missing or unsupported
   */
  public static LlamaConfig config(Gguf gguf) {
    Map<String, Object> m = gguf.metadata();
    String arch = gguf.string("general.architecture");
    if (!arch.equals("llama")) {
      throw gguf.error("general.architecture '" + arch + "' is not supported (llama)");
    }
    if (gguf.tensors().containsKey("rope_freqs.weight")) {
      throw gguf.error("rope_freqs.weight (llama3 RoPE scaling) is not supported");
    }
    if (m.get("llama.rope.scaling.type") instanceof String s && !s.equals("none")) {
      throw gguf.error("llama.rope.scaling.type '" + s + "' is not supported");
    }
    int hidden = integer(gguf, "llama.embedding_length");
    int heads = integer(gguf, "llama.attention.head_count");
    int kvHeads =
        m.containsKey("llama.attention.head_count_kv")
            ? integer(gguf, "llama.attention.head_count_kv")
            : heads;
    int headDim =
        m.containsKey("llama.attention.key_length")
            ? integer(gguf, "llama.attention.key_length")
            : hidden / heads;
    if (m.containsKey("llama.rope.dimension_count")
        && integer(gguf, "llama.rope.dimension_count") != headDim) {
      throw gguf.error(
          "llama.rope.dimension_count below the head size (partial RoPE) is not supported");
    }
    int vocab =
        m.containsKey("llama.vocab_size")
            ? integer(gguf, "llama.vocab_size")
            : gguf.strings("tokenizer.ggml.tokens").size();
    return new LlamaConfig(
            List.of("LlamaForCausalLM"),
            "llama",
            hidden,
            integer(gguf, "llama.feed_forward_length"),
            integer(gguf, "llama.block_count"),
            heads,
            kvHeads,
            headDim,
            number(gguf, "llama.attention.layer_norm_rms_epsilon", null),
            number(gguf, "llama.rope.freq_base", 10000.0),
            null,
            null,
            integer(gguf, "llama.context_length"),
            vocab,
            !gguf.tensors().containsKey("output.weight"),
            false,
            false,
            "silu",
            optional(gguf, "tokenizer.ggml.bos_token_id"),
            optional(gguf, "tokenizer.ggml.eos_token_id"),
            "float32")
        .validated();
  }

  /** The file's tensors by their Hugging Face names. */
  public static TensorSource tensors(Gguf gguf, LlamaConfig config) {
    Map<String, String> names = new LinkedHashMap<>();
    for (var e : TOP.entrySet()) {
      if (gguf.tensors().containsKey(e.getValue())) {
        names.put(e.getKey(), e.getValue());
      }
    }
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      for (var e : IN_LAYER.entrySet()) {
        names.put("model.layers." + i + "." + e.getKey(), "blk." + i + "." + e.getValue());
      }
    }
    return new TensorSource() {
      @Override
      public boolean contains(String name) {
        return names.containsKey(name) && gguf.tensors().containsKey(names.get(name));
      }

      @Override
      public Set<String> names() {
        return names.keySet();
      }

      @Override
      public NDArray load(NDManager manager, String name, DataType dtype, long... shape) {
        String file = names.get(name);
        Gguf.Tensor t = file == null ? null : gguf.tensors().get(file);
        if (t == null) {
          throw gguf.error("tensor '" + (file == null ? name : file) + "' is missing");
        }
        if (shape.length > 0 && !Arrays.equals(t.shape(), shape)) {
          throw gguf.error(
              "tensor '"
                  + file
                  + "' has shape "
                  + Arrays.toString(t.shape())
                  + ", expected "
                  + Arrays.toString(shape));
        }
        float[] values = gguf.floats(file);
        Matcher layer = LAYER.matcher(name);
        if (layer.matches() && layer.group(2).equals("self_attn.q_proj.weight")) {
          values = unpermute(values, config.numAttentionHeads(), config.headDim());
        } else if (layer.matches() && layer.group(2).equals("self_attn.k_proj.weight")) {
          values = unpermute(values, config.numKeyValueHeads(), config.headDim());
        }
        NDArray a = manager.create(values, new Shape(t.shape()));
        return dtype == DataType.FLOAT32 ? a : a.toType(dtype, false);
      }
    };
  }

  /**
   * Undoes the converter's row permutation of q or k: [heads·headDim, in] with each head's rows
   * interleaved (row 2i + j of a head is its half j's row i) back to halves (row j·headDim/2 + i).
   */
  static float[] unpermute(float[] w, int heads, int headDim) {
    int cols = w.length / (heads * headDim);
    int half = headDim / 2;
    float[] out = new float[w.length];
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < half; i++) {
        for (int j = 0; j < 2; j++) {
          int from = (h * headDim + 2 * i + j) * cols;
          int to = (h * headDim + j * half + i) * cols;
          System.arraycopy(w, from, out, to, cols);
        }
      }
    }
    return out;
  }

  private static int integer(Gguf gguf, String key) {
    if (!(gguf.metadata().get(key) instanceof Long v) || v <= 0 || v > Integer.MAX_VALUE) {
      throw gguf.error(key + " must be a positive integer");
    }
    return (int) (long) v;
  }

  /** A token id, or null when the file gives none. */
  private static Integer optional(Gguf gguf, String key) {
    Object v = gguf.metadata().get(key);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Long id) || id < 0 || id > Integer.MAX_VALUE) {
      throw gguf.error(key + " must be a non-negative integer");
    }
    return (int) (long) id;
  }

  private static Double number(Gguf gguf, String key, Double fallback) {
    Object v = gguf.metadata().get(key);
    if (v == null) {
      return fallback;
    }
    if (!(v instanceof Double d) || !(d > 0)) {
      throw gguf.error(key + " must be a positive number");
    }
    return d;
  }
}
