package dev.lathe.worker.model.llama;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Set;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/**
 * A Llama-family {@code config.json} with the Hugging Face field names. Llama 2/3, Mistral,
 * Qwen2/2.5 and SmolLM share this decoder; they differ in biases, RoPE scaling and tying.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record LlamaConfig(
    List<String> architectures,
    String modelType,
    Integer hiddenSize,
    Integer intermediateSize,
    Integer numHiddenLayers,
    Integer numAttentionHeads,
    Integer numKeyValueHeads,
    Integer headDim,
    Double rmsNormEps,
    Double ropeTheta,
    RopeScaling ropeScaling,
    RopeScaling ropeParameters,
    Integer maxPositionEmbeddings,
    Integer vocabSize,
    Boolean tieWordEmbeddings,
    Boolean attentionBias,
    Boolean mlpBias,
    String hiddenAct,
    Integer bosTokenId,
    Integer eosTokenId,
    String torchDtype) {

  static final Set<String> ARCHITECTURES =
      Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");

  /**
   * {@code rope_scaling} (or, as transformers 5 writes it, {@code rope_parameters}, which also
   * carries {@code rope_theta}); only the {@code llama3} type changes the frequencies.
   */
  @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
  @JsonInclude(JsonInclude.Include.NON_NULL)
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record RopeScaling(
      String ropeType,
      String type,
      Double factor,
      Double lowFreqFactor,
      Double highFreqFactor,
      Integer originalMaxPositionEmbeddings,
      Double ropeTheta) {

    String kind() {
      return ropeType != null ? ropeType : type;
    }
  }

  /**
   * Fills the Hugging Face defaults and refuses what this engine cannot run.
   *
   * @throws IllegalArgumentException naming the field
   */
  public LlamaConfig validated() {
    String arch = architectures == null || architectures.isEmpty() ? null : architectures.get(0);
    if (arch == null || !ARCHITECTURES.contains(arch)) {
      throw new IllegalArgumentException(
          "config.json: architectures " + architectures + " is not one of " + ARCHITECTURES);
    }
    require("hidden_size", hiddenSize);
    require("intermediate_size", intermediateSize);
    require("num_hidden_layers", numHiddenLayers);
    require("num_attention_heads", numAttentionHeads);
    require("vocab_size", vocabSize);
    int kvHeads = numKeyValueHeads == null ? numAttentionHeads : numKeyValueHeads;
    if (kvHeads <= 0 || numAttentionHeads % kvHeads != 0) {
      throw new IllegalArgumentException(
          "config.json: num_attention_heads must be a multiple of num_key_value_heads");
    }
    int hd = headDim == null ? hiddenSize / numAttentionHeads : headDim;
    if (hd <= 0 || hd % 2 != 0) {
      throw new IllegalArgumentException("config.json: head_dim must be even and positive");
    }
    if (hiddenAct != null && !hiddenAct.equals("silu")) {
      throw new IllegalArgumentException("config.json: hidden_act " + hiddenAct + " is not silu");
    }
    RopeScaling scaling = ropeScaling != null ? ropeScaling : ropeParameters;
    if (scaling != null
        && scaling.kind() != null
        && !scaling.kind().equals("llama3")
        && !scaling.kind().equals("default")) {
      throw new IllegalArgumentException(
          "config.json: rope type " + scaling.kind() + " is not supported");
    }
    Double theta = ropeTheta != null ? ropeTheta : scaling == null ? null : scaling.ropeTheta();
    boolean qwen = arch.equals("Qwen2ForCausalLM");
    return new LlamaConfig(
        architectures,
        modelType,
        hiddenSize,
        intermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        kvHeads,
        hd,
        rmsNormEps == null ? 1e-6 : rmsNormEps,
        theta == null ? 10000.0 : theta,
        scaling,
        null,
        maxPositionEmbeddings == null ? 2048 : maxPositionEmbeddings,
        vocabSize,
        tieWordEmbeddings != null && tieWordEmbeddings,
        qwen || (attentionBias != null && attentionBias),
        mlpBias != null && mlpBias,
        "silu",
        bosTokenId,
        eosTokenId,
        torchDtype);
  }

  /** Qwen2 puts biases on q, k, v but not on o; Llama's attention_bias covers all four. */
  boolean outputBias() {
    return attentionBias && !architectures.get(0).equals("Qwen2ForCausalLM");
  }

  public long parameterCount() {
    long h = hiddenSize;
    long q = (long) numAttentionHeads * headDim;
    long kv = (long) numKeyValueHeads * headDim;
    long layer = h * q * 2 + h * kv * 2 + 3 * h * intermediateSize + 2 * h;
    long embed = (long) vocabSize * h;
    return embed + numHiddenLayers * layer + h + (tieWordEmbeddings ? 0 : embed);
  }

  private static void require(String field, Integer value) {
    if (value == null || value <= 0) {
      throw new IllegalArgumentException("config.json: " + field + " must be a positive integer");
    }
  }
}
