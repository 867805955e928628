package dev.lathe.contracts.future;

import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * {@code POST /api/v1/retrieve_futures}: the finished and failed requests of one sampling session
 * after {@code prev_cursor}; {@code retrieved_request_ids} are those the client has fetched.
 */
@Wire
public record FuturesRetrieveRequest(
    Target target, Long prevCursor, Double timeout, List<String> retrievedRequestIds) {

  public FuturesRetrieveRequest {
    prevCursor = prevCursor == null ? 0L : prevCursor;
    retrievedRequestIds = retrievedRequestIds == null ? List.of() : retrievedRequestIds;
  }

  /** The sampling session polled; {@code cloned_sampler_id} is seq_id / 10^9 of a clone. */
  @Wire
  public record Target(String type, String samplingSessionId, Long clonedSamplerId) {}
}
