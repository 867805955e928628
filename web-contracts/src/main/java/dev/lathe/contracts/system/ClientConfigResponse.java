package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/**
 * Feature flags for the SDK. Lathe speaks JSON only, so every protobuf and token-auth path is
 * switched off explicitly; flags not named here keep the SDK's defaults.
 */
@Wire
public record ClientConfigResponse(
    boolean pjwtAuthEnabled,
    boolean protoWriteFwdbwd,
    boolean protoCompressFwdbwd,
    boolean fwdViaFwdbwd,
    boolean createModelViaLoadWeights) {

  public static ClientConfigResponse jsonOnly() {
    return new ClientConfigResponse(false, false, false, false, false);
  }
}
