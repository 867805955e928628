package dev.lathe.api.future;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.config.LatheProperties;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.future.ErrorCategory;
import dev.lathe.contracts.future.FutureRetrieveRequest;
import dev.lathe.contracts.future.QueueState;
import dev.lathe.contracts.future.RequestFailedResponse;
import dev.lathe.contracts.future.TryAgainResponse;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /api/v1/retrieve_future}: always HTTP 200 for a known future — its result, the
 * failure with its category, or after a long-poll a {@code try_again}. Unknown ids are 404.
 */
@RestController
class FutureController {

  private static final long RECHECK_MILLIS = 50;

  private final Requests requests;
  private final FutureSignals signals;
  private final LatheProperties props;

  FutureController(Requests requests, FutureSignals signals, LatheProperties props) {
    this.requests = requests;
    this.signals = signals;
    this.props = props;
  }

  @PostMapping("/api/v1/retrieve_future")
  Object retrieve(Caller caller, @RequestBody FutureRetrieveRequest req)
      throws InterruptedException {
    if (req == null || req.requestId() == null || req.requestId().isBlank()) {
      throw ApiException.badRequest("request_id", "is required");
    }
    long deadline = System.nanoTime() + props.limits().longPoll().toNanos();
    while (true) {
      Requests.Row row =
          requests
              .find(caller, req.requestId())
              .orElseThrow(() -> ApiException.notFound("request_id", req.requestId()));
      switch (row.status()) {
        case "done" -> {
          return Requests.parse(row.result());
        }
        case "failed" -> {
          return new RequestFailedResponse(row.error(), category(row.category()));
        }
        default -> {
          if (System.nanoTime() >= deadline) {
            return new TryAgainResponse(row.id(), QueueState.ACTIVE);
          }
          signals.await(RECHECK_MILLIS);
        }
      }
    }
  }

  private static ErrorCategory category(String c) {
    return switch (c == null ? "" : c) {
      case "user" -> ErrorCategory.USER;
      case "server" -> ErrorCategory.SERVER;
      default -> ErrorCategory.UNKNOWN;
    };
  }
}
