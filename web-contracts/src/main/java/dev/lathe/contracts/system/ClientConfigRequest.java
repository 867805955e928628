package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/client/config}: the SDK asks which feature flags apply to it. */
@Wire
public record ClientConfigRequest(String sdkVersion) {}
