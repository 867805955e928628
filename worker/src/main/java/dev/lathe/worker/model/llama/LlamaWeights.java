package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.store.TensorSource;
import java.util.ArrayList;
import java.util.List;

/**
 * The frozen weights of a Llama-family model. Linear weights keep the Hugging Face layout [out,
 * in]; the forward pass multiplies by their transpose.
 */
public record LlamaWeights(
    NDArray embed, List<Layer> layers, NDArray norm, NDArray lmHead, boolean tied) {

  /** One decoder layer; biases are null where the architecture has none. */
  public record Layer(
      NDArray inputNorm,
      NDArray q,
      NDArray qBias,
      NDArray k,
      NDArray kBias,
      NDArray v,
      NDArray vBias,
      NDArray o,
      NDArray oBias,
      NDArray postNorm,
      NDArray gate,
      NDArray up,
      NDArray down) {

    public NDArray weight(Module m) {
      return switch (m) {
        case Q_PROJ -> q;
        case K_PROJ -> k;
        case V_PROJ -> v;
        case O_PROJ -> o;
        case GATE_PROJ -> gate;
        case UP_PROJ -> up;
        case DOWN_PROJ -> down;
        case LM_HEAD -> throw new IllegalArgumentException("lm_head is not in a layer");
      };
    }
  }

  /** The weight [out, in] of an adaptable linear ({@code layer} is ignored for lm_head). */
  public NDArray weight(int layer, Module m) {
    return m == Module.LM_HEAD ? lmHead : layers.get(layer).weight(m);
  }

  /**
   * Loads and shape-checks every tensor of the config from a checkpoint.
   *
   * @throws IllegalArgumentException naming the file and tensor that is missing or misshapen
   */
  public static LlamaWeights load(
      LlamaConfig c, TensorSource src, NDManager manager, DataType dtype) {
    long h = c.hiddenSize();
    long q = (long) c.numAttentionHeads() * c.headDim();
    long kv = (long) c.numKeyValueHeads() * c.headDim();
    long inter = c.intermediateSize();
    NDArray embed = src.load(manager, "model.embed_tokens.weight", dtype, c.vocabSize(), h);
    List<Layer> layers = new ArrayList<>();
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      String p = "model.layers." + i + ".";
      boolean qkvBias = c.attentionBias();
      boolean oBias = c.outputBias();
      layers.add(
          new Layer(
              src.load(manager, p + "input_layernorm.weight", dtype, h),
              src.load(manager, p + "self_attn.q_proj.weight", dtype, q, h),
              qkvBias ? src.load(manager, p + "self_attn.q_proj.bias", dtype, q) : null,
              src.load(manager, p + "self_attn.k_proj.weight", dtype, kv, h),
              qkvBias ? src.load(manager, p + "self_attn.k_proj.bias", dtype, kv) : null,
              src.load(manager, p + "self_attn.v_proj.weight", dtype, kv, h),
              qkvBias ? src.load(manager, p + "self_attn.v_proj.bias", dtype, kv) : null,
              src.load(manager, p + "self_attn.o_proj.weight", dtype, h, q),
              oBias ? src.load(manager, p + "self_attn.o_proj.bias", dtype, h) : null,
              src.load(manager, p + "post_attention_layernorm.weight", dtype, h),
              src.load(manager, p + "mlp.gate_proj.weight", dtype, inter, h),
              src.load(manager, p + "mlp.up_proj.weight", dtype, inter, h),
              src.load(manager, p + "mlp.down_proj.weight", dtype, h, inter)));
    }
    NDArray norm = src.load(manager, "model.norm.weight", dtype, h);
    boolean tied = c.tieWordEmbeddings() || !src.contains("lm_head.weight");
    NDArray lmHead = tied ? embed : src.load(manager, "lm_head.weight", dtype, c.vocabSize(), h);
    return new LlamaWeights(embed, List.copyOf(layers), norm, lmHead, tied);
  }
}
