package dev.lathe.contracts.session;

import dev.lathe.contracts.Wire;
import java.util.List;
import java.util.Map;

/** {@code GET /api/v1/sessions/{id}}: its training runs and samplers, and what it was given. */
@Wire
public record GetSessionResponse(
    List<String> trainingRunIds,
    List<String> samplerIds,
    Map<String, Object> userMetadata,
    String displayName) {

  public GetSessionResponse(List<String> trainingRunIds, List<String> samplerIds) {
    this(trainingRunIds, samplerIds, null, null);
  }
}
