package dev.lathe.sdk;

import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SamplingParams;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/** Samples from one sampling session: a saved adapter or the base model. */
public final class SamplingClient {

  private final Transport transport;
  private final String samplingSessionId;
  private final AtomicInteger seq = new AtomicInteger();

  SamplingClient(Transport transport, String samplingSessionId) {
    this.transport = transport;
    this.samplingSessionId = samplingSessionId;
  }

  public String samplingSessionId() {
    return samplingSessionId;
  }

  /** {@code numSamples} continuations of {@code prompt}. */
  public CompletableFuture<SampleResponse> sample(
      ModelInput prompt, int numSamples, SamplingParams params) {
    return sample(prompt, numSamples, params, false, 0);
  }

  /**
   * {@code numSamples} continuations of {@code prompt}, with the prompt's logprobs and the top
   * {@code topkPromptLogprobs} alternatives at each prompt position if asked.
   */
  public CompletableFuture<SampleResponse> sample(
      ModelInput prompt,
      int numSamples,
      SamplingParams params,
      boolean promptLogprobs,
      int topkPromptLogprobs) {
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(params, "params");
    if (numSamples < 1) {
      throw new IllegalArgumentException("numSamples must be at least 1, got " + numSamples);
    }
    if (topkPromptLogprobs < 0) {
      throw new IllegalArgumentException("topkPromptLogprobs must not be negative");
    }
    var req =
        new SampleRequest(
            numSamples,
            prompt,
            params,
            null,
            null,
            samplingSessionId,
            seq.getAndIncrement(),
            promptLogprobs,
            topkPromptLogprobs);
    return transport
        .call("POST", "api/v1/asample", req, RequestAccepted.class)
        .thenCompose(a -> transport.result(a.requestId(), SampleResponse.class));
  }

  /** The logprob of each prompt token given those before it (null for the first). */
  public CompletableFuture<List<Double>> computeLogprobs(ModelInput prompt) {
    SamplingParams one = new SamplingParams(1, null, null, 1.0, -1, 1.0);
    return sample(prompt, 1, one, true, 0).thenApply(SampleResponse::promptLogprobs);
  }
}
