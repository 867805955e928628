package dev.lathe.contracts.sampling;

import dev.lathe.contracts.Wire;
import java.util.List;

/** One sampled continuation with the logprob of each token under the sampling model. */
@Wire
public record SampledSequence(StopReason stopReason, int[] tokens, List<Double> logprobs) {}
