package dev.lathe.contracts.sampling;

import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * One sampled continuation with the logprob of each token under the sampling model, and, when the
 * request asked for {@code topk_sample_logprobs}, the k most likely tokens at each position.
 */
@Wire
public record SampledSequence(
    StopReason stopReason,
    int[] tokens,
    List<Double> logprobs,
    List<List<TokenLogprob>> topkLogprobs) {

  public SampledSequence(StopReason stopReason, int[] tokens, List<Double> logprobs) {
    this(stopReason, tokens, logprobs, null);
  }
}
