package dev.lathe.api.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Lathe's settings ({@code lathe.*}, bound from the {@code LATHE_*} environment variables in
 * application.yml), validated at start-up.
 *
 * @param role {@code all}: api and worker in one process; {@code api} or {@code worker} alone
 * @param dataDir where all-in-one mode keeps its database, models and adapter files
 * @param baseModel the served base model: {@code lathe-tiny}, {@code smollm2-135m-instruct}, a
 *     {@code .gguf} file or a model directory
 * @param modelDir where named GGUF models are looked for before {@code dataDir/models} (blank:
 *     nowhere else)
 * @param adminKey the first admin key; generated and printed once when blank
 * @param db the external PostgreSQL; when its url is blank an embedded one runs under dataDir
 * @param limits caps on what one call may ask for
 * @param worker the in-process worker's settings
 */
@Validated
@ConfigurationProperties("lathe")
public record LatheProperties(
    @NotNull Role role,
    @NotNull Path dataDir,
    @NotBlank String baseModel,
    String modelDir,
    String adminKey,
    @Valid @NotNull Db db,
    @Valid @NotNull Limits limits,
    @Valid @NotNull Worker worker) {

  /** {@code modelDir} as a path, or null when it is blank. */
  public Path modelDirPath() {
    return modelDir == null || modelDir.isBlank() ? null : Path.of(modelDir);
  }

  /** Which parts this process runs. */
  public enum Role {
    ALL,
    API,
    WORKER;

    public boolean runsApi() {
      return this != WORKER;
    }

    public boolean runsWorker() {
      return this != API;
    }
  }

  /** Connection to an external PostgreSQL. */
  public record Db(String url, String user, String password) {

    public boolean external() {
      return url != null && !url.isBlank();
    }
  }

  /**
   * Caps per call; beyond them a request is refused with the field named. {@code
   * zstdForwardBackward} asks the current SDK to compress its protobuf forward_backward bodies (the
   * decoded size is held to {@code maxBodyBytes} too).
   */
  public record Limits(
      @Min(1024) long maxBodyBytes,
      @Min(1) int maxDatums,
      @Min(1) int maxTokensPerRequest,
      @Min(1) int maxSamples,
      @Min(1) int maxSampleTokens,
      @Min(1) int maxTopkPromptLogprobs,
      @NotNull Duration longPoll,
      boolean zstdForwardBackward) {}

  /**
   * The worker.
   *
   * @param id this process's worker id, stable across restarts so that a restarted worker takes
   *     back at once what it had claimed (unset: {@code local} with the embedded database, which
   *     only this process uses, else one of this process); two live workers must never share one
   * @param gapTimeout how long a request waits for an earlier seq_id of its training run
   * @param claimLimit requests of one tenant a worker claims ahead of running them
   * @param adapterSlots adapters resident in device memory; the most runs one fused batch holds
   * @param hostAdapterSlots adapters kept in host memory after leaving the device
   * @param cycleTokens tokens one fused batch aims to hold, shared equally by its tenants
   * @param sessionTimeout the adapters of a session silent this long are saved and unloaded
   * @param decodeRows samples one decode batch holds; new sample requests join while fewer decode
   * @param decodeCache the most the decode batch's KV cache may take; a request joins only if the
   *     cache with it stays within (a request alone always runs)
   * @param requestRetention how long finished requests are kept, and their futures retrievable
   *     (training steps a crash would replay are kept until a snapshot on disk covers them)
   */
  public record Worker(
      String id,
      @NotNull Duration gapTimeout,
      @Min(1) int claimLimit,
      @Min(1) int adapterSlots,
      @Min(0) int hostAdapterSlots,
      @Min(1) int cycleTokens,
      @NotNull Duration sessionTimeout,
      @Min(1) int decodeRows,
      @NotNull DataSize decodeCache,
      @NotNull Duration requestRetention) {}
}
