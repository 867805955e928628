package dev.lathe.api.sampling;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.config.LatheProperties;
import dev.lathe.api.future.Requests;
import dev.lathe.api.session.Sessions;
import dev.lathe.api.system.ServedModel;
import dev.lathe.api.tenant.TenantQuotas;
import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.sampling.CreateSamplingSessionRequest;
import dev.lathe.contracts.sampling.CreateSamplingSessionResponse;
import dev.lathe.contracts.sampling.GetSamplerResponse;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.sampling.Stop;
import java.util.Optional;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** Sampling sessions and {@code asample}. */
@RestController
@RequestMapping("/api/v1")
class SamplingController {

  private static final int MAX_STOPS = 16;

  /** What the worker generates when max_tokens is not given (as its Executor). */
  private static final int DEFAULT_MAX_TOKENS = 256;

  private final JdbcClient jdbc;
  private final Sessions sessions;
  private final Requests requests;
  private final ServedModel model;
  private final LatheProperties.Limits limits;
  private final TenantQuotas quotas;

  SamplingController(
      JdbcClient jdbc,
      Sessions sessions,
      Requests requests,
      ServedModel model,
      LatheProperties props,
      TenantQuotas quotas) {
    this.quotas = quotas;
    this.jdbc = jdbc;
    this.sessions = sessions;
    this.requests = requests;
    this.model = model;
    this.limits = props.limits();
  }

  @PostMapping("/create_sampling_session")
  CreateSamplingSessionResponse create(
      Caller caller, @RequestBody CreateSamplingSessionRequest req) {
    sessions.require(caller, req.sessionId(), "session_id");
    int seq =
        Check.range(req.samplingSessionSeqId(), 0, Integer.MAX_VALUE, "sampling_session_seq_id");
    if (req.modelPath() != null) {
      checkpoint(caller, req.modelPath(), "model_path");
    } else {
      model.require(req.baseModel(), "base_model");
    }
    String id = req.sessionId() + ":sample:" + seq;
    jdbc.sql(
            "INSERT INTO sampling_sessions (id, tenant_id, session_id, sampling_session_seq_id,"
                + " base_model, model_path) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
        .params(id, caller.tenantId(), req.sessionId(), seq, model.name(), req.modelPath())
        .update();
    return new CreateSamplingSessionResponse(id);
  }

  @GetMapping("/samplers/{samplerId}")
  GetSamplerResponse sampler(Caller caller, @PathVariable String samplerId) {
    return jdbc.sql(
            "SELECT id, base_model, model_path FROM sampling_sessions WHERE id = ? AND tenant_id = ?")
        .params(samplerId, caller.tenantId())
        .query((rs, n) -> new GetSamplerResponse(rs.getString(1), rs.getString(2), rs.getString(3)))
        .optional()
        .orElseThrow(() -> ApiException.notFound("sampler_id", samplerId));
  }

  @PostMapping("/asample")
  RequestAccepted sample(Caller caller, @RequestBody SampleRequest req) {
    int promptTokens = Check.tokens(req.prompt(), model.vocabSize(), "prompt");
    Check.range(req.numSamples(), 1, limits.maxSamples(), "num_samples");
    SamplingParams p = Check.required(req.samplingParams(), "sampling_params");
    int room = model.maxContextLength() - promptTokens;
    if (room < 1) {
      throw ApiException.badRequest(
          "prompt",
          promptTokens + " tokens leave no room in the context of " + model.maxContextLength());
    }
    if (p.maxTokens() != null) {
      Check.range(
          p.maxTokens(), 1, Math.min(limits.maxSampleTokens(), room), "sampling_params.max_tokens");
    }
    double t = Check.finite(p.temperature(), "sampling_params.temperature");
    if (t < 0 || t > 100) {
      throw ApiException.badRequest("sampling_params.temperature", "must be between 0 and 100");
    }
    double topP = Check.finite(p.topP(), "sampling_params.top_p");
    if (!(topP > 0 && topP <= 1)) {
      throw ApiException.badRequest("sampling_params.top_p", "must be in (0, 1]");
    }
    int topK = Check.required(p.topK(), "sampling_params.top_k");
    if (topK != -1 && topK < 1) {
      throw ApiException.badRequest("sampling_params.top_k", "must be -1 (no limit) or positive");
    }
    stop(p.stop());
    Check.range(
        req.topkPromptLogprobs(), 0, limits.maxTopkPromptLogprobs(), "topk_prompt_logprobs");
    currentSdkFields(req, promptTokens);

    String samplingSession = null;
    Integer seq = null;
    if (req.samplingSessionId() != null) {
      samplingSession = req.samplingSessionId();
      owned(caller, samplingSession);
      seq = Check.range(req.seqId(), 0, Integer.MAX_VALUE, "seq_id");
    } else if (req.modelPath() != null) {
      checkpoint(caller, req.modelPath(), "model_path");
    } else {
      model.require(req.baseModel(), "base_model");
    }
    // Charged up front: the prompt and, per sample, all the tokens it may generate.
    int perSample = p.maxTokens() != null ? p.maxTokens() : Math.min(DEFAULT_MAX_TOKENS, room);
    quotas.spendTokens(
        caller, promptTokens + (long) req.numSamples() * perSample, "sampling_params.max_tokens");
    String id =
        requests.enqueue(caller, model.name(), "sample", null, samplingSession, seq, req, "seq_id");
    return RequestAccepted.sampling(id, req.numSamples());
  }

  /** The fields the current SDK added: served, or refused by name where Lathe has no such thing. */
  private void currentSdkFields(SampleRequest req, int promptTokens) {
    if (req.topkSampleLogprobs() != null) {
      Check.range(
          req.topkSampleLogprobs(), 0, limits.maxTopkPromptLogprobs(), "topk_sample_logprobs");
    }
    if (req.promptLogprobsLastN() != null) {
      Check.range(req.promptLogprobsLastN(), 1, promptTokens - 1, "prompt_logprobs_last_n");
      if (!Boolean.TRUE.equals(req.promptLogprobs()) && req.topkPromptLogprobs() == 0) {
        throw ApiException.badRequest(
            "prompt_logprobs_last_n", "needs prompt_logprobs or topk_prompt_logprobs");
      }
    }
    if (req.targetPromptLogprobs() != null) {
      throw ApiException.badRequest(
          "target_prompt_logprobs",
          "is not supported by Lathe: ask for prompt_logprobs or topk_prompt_logprobs");
    }
    if (req.promptAltTokensK() != null && req.promptAltTokensK() != 0) {
      throw ApiException.badRequest("prompt_alt_tokens_k", "is not supported by Lathe (send 0)");
    }
    if (Boolean.TRUE.equals(req.recordStabilityInfo())) {
      throw ApiException.badRequest(
          "record_stability_info", "is not supported by Lathe, which has no stable_reinforce loss");
    }
  }

  private void owned(Caller caller, String samplingSessionId) {
    long n =
        jdbc.sql("SELECT count(*) FROM sampling_sessions WHERE id = ? AND tenant_id = ?")
            .params(samplingSessionId, caller.tenantId())
            .query(Long.class)
            .single();
    if (n == 0) {
      throw ApiException.notFound("sampling_session_id", samplingSessionId);
    }
  }

  private void stop(Stop stop) {
    switch (stop) {
      case null -> {}
      case Stop.Text s -> {
        if (s.text().isEmpty() || s.text().length() > 256) {
          throw ApiException.badRequest("sampling_params.stop", "must be 1-256 characters");
        }
      }
      case Stop.Texts s -> {
        if (s.texts().size() > MAX_STOPS) {
          throw ApiException.badRequest(
              "sampling_params.stop", "at most " + MAX_STOPS + " stop strings");
        }
        for (int i = 0; i < s.texts().size(); i++) {
          String text = s.texts().get(i);
          if (text.isEmpty() || text.length() > 256) {
            throw ApiException.badRequest(
                "sampling_params.stop[" + i + "]", "must be 1-256 characters");
          }
        }
      }
      case Stop.Tokens s -> {
        if (s.tokens().size() > MAX_STOPS) {
          throw ApiException.badRequest(
              "sampling_params.stop", "at most " + MAX_STOPS + " stop tokens");
        }
        for (int i = 0; i < s.tokens().size(); i++) {
          int token = s.tokens().get(i);
          if (token < 0 || token >= model.vocabSize()) {
            throw ApiException.badRequest(
                "sampling_params.stop[" + i + "]", token + " is not a token id");
          }
        }
      }
    }
  }

  private void checkpoint(Caller caller, String text, String field) {
    TinkerPath path;
    try {
      path = TinkerPath.parse(text);
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest(field, e.getMessage());
    }
    Optional<String> found =
        jdbc.sql(
                "SELECT training_run_id FROM checkpoints WHERE training_run_id = ? AND kind = ? AND name = ?"
                    + " AND (tenant_id = ? OR published) AND (expires_at IS NULL OR expires_at > now())")
            .params(path.trainingRunId(), path.kind(), path.name(), caller.tenantId())
            .query(String.class)
            .optional();
    if (found.isEmpty()) {
      throw ApiException.notFound(field, text);
    }
  }
}
