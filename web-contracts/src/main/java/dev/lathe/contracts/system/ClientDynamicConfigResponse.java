package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/client/dynamic_config}: flags the current SDK re-reads every {@code
 * refresh_interval_sec}. Lathe has no explicit sampling cancel: an abandoned sample runs to its
 * end.
 */
@Wire
public record ClientDynamicConfigResponse(int refreshIntervalSec, boolean sampleCancelEnabled) {

  public static ClientDynamicConfigResponse lathe() {
    return new ClientDynamicConfigResponse(300, false);
  }
}
