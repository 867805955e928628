package dev.lathe.contracts.future;

import dev.lathe.contracts.Wire;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The answer to every async call: the future to poll (the SDK's {@code UntypedAPIFuture}). A
 * sampling future also names each of its samples ({@code sample_sequence_ids}, in the order of the
 * result's sequences), which the current SDK stamps on the sequences it returns.
 */
@Wire
public record RequestAccepted(String requestId, String modelId, List<String> sampleSequenceIds) {

  public RequestAccepted(String requestId, String modelId) {
    this(requestId, modelId, null);
  }

  /** A sampling future of {@code samples} sequences, named {@code <request_id>:<i>}. */
  public static RequestAccepted sampling(String requestId, int samples) {
    return new RequestAccepted(
        requestId, null, IntStream.range(0, samples).mapToObj(i -> requestId + ":" + i).toList());
  }
}
