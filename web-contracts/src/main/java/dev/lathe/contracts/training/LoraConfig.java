package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.lathe.contracts.Wire;

/**
 * The LoRA adapter of a training run: its rank, the seed of its initialisation, which layer groups
 * it adapts (attention q,k,v,o; MLP gate, up, down; the unembedding lm_head), and {@code use_dora}
 * (a Lathe extension: DoRA, a trained magnitude per output row of each adapted weight).
 */
@Wire
public record LoraConfig(
    Integer rank,
    Long seed,
    Boolean trainUnembed,
    Boolean trainMlp,
    Boolean trainAttn,
    Boolean useDora) {

  public LoraConfig {
    trainUnembed = trainUnembed == null ? Boolean.TRUE : trainUnembed;
    trainMlp = trainMlp == null ? Boolean.TRUE : trainMlp;
    trainAttn = trainAttn == null ? Boolean.TRUE : trainAttn;
  }

  /** Whether the adapter is DoRA ({@code use_dora} absent: not; it stays absent on the wire). */
  @JsonIgnore
  public boolean dora() {
    return Boolean.TRUE.equals(useDora);
  }

  /** Tinker's fields alone: a LoRA adapter. */
  public LoraConfig(
      Integer rank, Long seed, Boolean trainUnembed, Boolean trainMlp, Boolean trainAttn) {
    this(rank, seed, trainUnembed, trainMlp, trainAttn, null);
  }

  public static LoraConfig ofRank(int rank) {
    return new LoraConfig(rank, null, null, null, null);
  }

  /** This configuration as DoRA (or plain LoRA). */
  public LoraConfig withDora(boolean on) {
    return new LoraConfig(rank, seed, trainUnembed, trainMlp, trainAttn, on);
  }
}
