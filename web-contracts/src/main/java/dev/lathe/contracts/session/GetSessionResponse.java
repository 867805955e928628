package dev.lathe.contracts.session;

import dev.lathe.contracts.Wire;
import java.util.List;

/** {@code GET /api/v1/sessions/{id}}. */
@Wire
public record GetSessionResponse(List<String> trainingRunIds, List<String> samplerIds) {}
