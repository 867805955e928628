package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/**
 * Feature flags for the SDK, named explicitly so that no SDK default turns on a path Lathe does not
 * serve. The JSON-only SDKs (≤ 0.24) stay on JSON ({@code proto_write_fwdbwd} false); the current
 * SDK always sends forward_backward as protobuf, zstd-compressed when {@code
 * proto_compress_fwdbwd}, in chunks of at most {@code fwdbwd_max_chunk_len} datums and {@code
 * fwdbwd_max_chunk_bytes_count} bytes (so that it splits a batch before Lathe's limits refuse it).
 * Token auth, server-side custom losses, the sampling-session poller and sampler clones are off.
 */
@Wire
public record ClientConfigResponse(
    boolean pjwtAuthEnabled,
    boolean protoWriteFwdbwd,
    boolean protoCompressFwdbwd,
    boolean fwdViaFwdbwd,
    boolean createModelViaLoadWeights,
    int fwdbwdMaxChunkLen,
    long fwdbwdMaxChunkBytesCount,
    boolean sampleUseRetrieveFutures,
    boolean customLossServerSide,
    boolean sampleJoinSamplingSession) {

  /** The SDK's own chunk size cap, kept when Lathe's limits are looser. */
  public static final long SDK_CHUNK_BYTES = 5_000_000;

  public static ClientConfigResponse of(boolean compress, int maxDatums, long maxBodyBytes) {
    return new ClientConfigResponse(
        false,
        false,
        compress,
        false,
        false,
        maxDatums,
        Math.min(SDK_CHUNK_BYTES, maxBodyBytes),
        false,
        false,
        false);
  }
}
