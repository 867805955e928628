package dev.lathe.contracts.sampling;

import dev.lathe.contracts.Wire;

/**
 * How to sample: {@code max_tokens}, {@code seed} (same seed, same tokens), {@code stop}, {@code
 * temperature} (0 is greedy), {@code top_k} (-1: all) and {@code top_p} (1: all).
 */
@Wire
public record SamplingParams(
    Integer maxTokens, Long seed, Stop stop, Double temperature, Integer topK, Double topP) {

  public SamplingParams {
    temperature = temperature == null ? 1.0 : temperature;
    topK = topK == null ? -1 : topK;
    topP = topP == null ? 1.0 : topP;
  }
}
