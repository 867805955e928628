package dev.lathe.contracts.session;

import dev.lathe.contracts.Wire;
import java.util.List;

/** {@code GET /api/v1/sessions}: the caller's session ids, newest first. */
@Wire
public record ListSessionsResponse(List<String> sessions) {}
