package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * Result of an {@code asample} future. {@code prompt_logprobs} has one entry per prompt token, null
 * for the first; {@code topk_prompt_logprobs} likewise has up to k pairs per position.
 */
@Wire
public record SampleResponse(
    List<SampledSequence> sequences,
    List<Double> promptLogprobs,
    List<List<TokenLogprob>> topkPromptLogprobs,
    Integer promptCacheHitTokens) {

  public SampleResponse {
    promptCacheHitTokens = promptCacheHitTokens == null ? 0 : promptCacheHitTokens;
  }

  @JsonProperty("type")
  public String type() {
    return "sample";
  }
}
