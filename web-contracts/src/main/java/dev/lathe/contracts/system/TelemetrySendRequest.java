package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;
import java.util.List;
import java.util.Map;

/** {@code POST /api/v1/telemetry}: SDK telemetry, accepted and not interpreted. */
@Wire
public record TelemetrySendRequest(
    List<Map<String, Object>> events,
    String platform,
    String sdkVersion,
    String sessionId,
    String processUuid) {}
