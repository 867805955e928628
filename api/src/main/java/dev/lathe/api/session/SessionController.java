package dev.lathe.api.session;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import dev.lathe.contracts.session.CreateSessionRequest;
import dev.lathe.contracts.session.CreateSessionResponse;
import dev.lathe.contracts.session.FinishSessionRequest;
import dev.lathe.contracts.session.GetSessionResponse;
import dev.lathe.contracts.session.ListSessionsResponse;
import dev.lathe.contracts.session.SessionHeartbeatRequest;
import dev.lathe.contracts.session.SessionHeartbeatResponse;
import java.util.Map;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/** Sessions: create, heartbeat, list, finish. */
@RestController
@RequestMapping("/api/v1")
class SessionController {

  private static final int MAX_TAGS = 64;

  private final Sessions sessions;

  SessionController(Sessions sessions) {
    this.sessions = sessions;
  }

  @PostMapping("/create_session")
  CreateSessionResponse create(Caller caller, @RequestBody CreateSessionRequest req) {
    if (req.tags().size() > MAX_TAGS) {
      throw ApiException.badRequest("tags", "at most " + MAX_TAGS + " tags");
    }
    for (int i = 0; i < req.tags().size(); i++) {
      String t = req.tags().get(i);
      if (t == null || t.length() > 256) {
        throw ApiException.badRequest(
            "tags[" + i + "]", "must be a string of at most 256 characters");
      }
    }
    if (req.displayName() != null && req.displayName().length() > 256) {
      throw ApiException.badRequest("display_name", "must be at most 256 characters");
    }
    return CreateSessionResponse.of(sessions.create(caller, req));
  }

  /** The client is done with the session ({@code ServiceClient.close}). */
  @PostMapping("/sessions/{sessionId}/finish")
  Map<String, Object> finish(
      Caller caller, @PathVariable String sessionId, @RequestBody FinishSessionRequest req) {
    sessions.require(caller, sessionId, "session_id");
    String reason = req.reason() == null ? null : req.reason().type();
    if (reason != null && reason.length() > 64) {
      throw ApiException.badRequest("reason.type", "must be at most 64 characters");
    }
    if (req.detail() != null && req.detail().length() > 4096) {
      throw ApiException.badRequest("detail", "must be at most 4096 characters");
    }
    sessions.finish(caller, sessionId, reason, req.detail());
    return Map.of();
  }

  @PostMapping("/session_heartbeat")
  SessionHeartbeatResponse heartbeat(Caller caller, @RequestBody SessionHeartbeatRequest req) {
    sessions.require(caller, req.sessionId(), "session_id");
    sessions.heartbeat(caller, req.sessionId());
    return new SessionHeartbeatResponse();
  }

  @GetMapping("/sessions")
  ListSessionsResponse list(
      Caller caller,
      @RequestParam(defaultValue = "20") int limit,
      @RequestParam(defaultValue = "0") int offset) {
    Check.page(limit, offset);
    return new ListSessionsResponse(sessions.list(caller, limit, offset));
  }

  @GetMapping("/sessions/{sessionId}")
  GetSessionResponse get(Caller caller, @PathVariable String sessionId) {
    sessions.require(caller, sessionId, "session_id");
    Sessions.Details details = sessions.details(sessionId);
    return new GetSessionResponse(
        sessions.trainingRuns(sessionId),
        sessions.samplers(sessionId),
        details.userMetadata(),
        details.displayName());
  }
}
