package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/**
 * The LoRA adapter of a training run: its rank, the seed of its initialisation and which layer
 * groups it adapts (attention q,k,v,o; MLP gate, up, down; the unembedding lm_head).
 */
@Wire
public record LoraConfig(
    Integer rank, Long seed, Boolean trainUnembed, Boolean trainMlp, Boolean trainAttn) {

  public LoraConfig {
    trainUnembed = trainUnembed == null ? Boolean.TRUE : trainUnembed;
    trainMlp = trainMlp == null ? Boolean.TRUE : trainMlp;
    trainAttn = trainAttn == null ? Boolean.TRUE : trainAttn;
  }

  public static LoraConfig ofRank(int rank) {
    return new LoraConfig(rank, null, null, null, null);
  }
}
