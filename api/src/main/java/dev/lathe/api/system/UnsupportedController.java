package dev.lathe.api.system;

import dev.lathe.api.web.ApiException;
import jakarta.servlet.http.HttpServletRequest;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.HandlerMapping;

/**
 * Endpoints of the current Tinker SDK that Lathe does not serve, each answered with a 404 that says
 * why (the SDK shows it as it is; a 5xx it would retry for minutes). The ones behind client config
 * flags are never called, as Lathe keeps those flags off. README, "Compatibility", lists them all.
 */
@RestController
class UnsupportedController {

  static final Map<String, String> WHY =
      Map.ofEntries(
          Map.entry(
              "/api/v1/retrieve_futures",
              "Lathe has no sampling-session poller (sample_use_retrieve_futures is off): poll"
                  + " retrieve_future"),
          Map.entry(
              "/api/v1/join_sampling_session",
              "Lathe does not number sampler clones (sample_join_sampling_session is off)"),
          Map.entry(
              "/api/v1/create_custom_loss",
              "Lathe runs custom losses on the client (custom_loss_server_side is off)"),
          Map.entry(
              "/api/v1/cancel_future",
              "Lathe has no sampling cancel (sample_cancel_enabled is off)"),
          Map.entry(
              "/api/v1/copy_weights",
              "Lathe has no projects to copy into: load the checkpoint with"
                  + " create_training_client_from_state"),
          Map.entry(
              "/api/v1/save_weights_external",
              "Lathe has no external weights export: save_state, then download the checkpoint's"
                  + " PEFT archive (GET .../checkpoints/{id}/archive)"),
          Map.entry(
              "/api/v1/training_runs/{runId}/checkpoints/{kind}/{name}/external_weights_urls",
              "Lathe has no external weights: download the PEFT archive (.../archive)"),
          Map.entry("/api/v1/sessions/search", "Lathe cannot search sessions: list them"),
          Map.entry("/api/v1/sessions/{sessionId}/project", "Lathe has no projects"),
          Map.entry("/api/v1/sessions/{sessionId}/trace_export", "Lathe keeps no session traces"),
          Map.entry("/api/v1/audit", "Lathe keeps no audit log for tenants"),
          Map.entry(
              "/api/v1/billing/usage/events",
              "Lathe bills nothing; admins see usage at /admin/v1/tenants/{id}/usage"),
          Map.entry("/api/v1/auth/apikey/me", "Lathe has no account details for keys"),
          Map.entry("/api/v1/auth/token", "Lathe authenticates with API keys only"));

  @io.swagger.v3.oas.annotations.Hidden // not served: they are no part of the API's description
  @RequestMapping({
    "/api/v1/retrieve_futures",
    "/api/v1/join_sampling_session",
    "/api/v1/create_custom_loss",
    "/api/v1/cancel_future",
    "/api/v1/copy_weights",
    "/api/v1/save_weights_external",
    "/api/v1/training_runs/{runId}/checkpoints/{kind}/{name}/external_weights_urls",
    "/api/v1/sessions/search",
    "/api/v1/sessions/{sessionId}/project",
    "/api/v1/sessions/{sessionId}/trace_export",
    "/api/v1/audit",
    "/api/v1/billing/usage/events",
    "/api/v1/auth/apikey/me",
    "/api/v1/auth/token"
  })
  void unsupported(HttpServletRequest req) {
    String pattern = (String) req.getAttribute(HandlerMapping.BEST_MATCHING_PATTERN_ATTRIBUTE);
    throw new ApiException(
        HttpStatus.NOT_FOUND,
        null,
        req.getMethod()
            + " "
            + req.getRequestURI()
            + " is not supported by Lathe: "
            + WHY.getOrDefault(pattern, "see README, Compatibility"));
  }
}
