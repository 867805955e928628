package dev.lathe.api.future;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.config.LatheProperties;
import dev.lathe.api.tenant.Tenants;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.future.ErrorCategory;
import dev.lathe.contracts.future.FutureRetrieveRequest;
import dev.lathe.contracts.future.QueueState;
import dev.lathe.contracts.future.RequestFailedResponse;
import dev.lathe.contracts.future.TryAgainResponse;
import dev.lathe.contracts.proto.ProtoCodec;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import java.util.List;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /api/v1/retrieve_future}: always HTTP 200 for a known future — its result, the
 * failure with its category, or after a long-poll a {@code try_again}. Unknown ids are 404.
 *
 * <p>A client that accepts {@code application/x-protobuf} (the current Tinker SDK) gets the results
 * of forward, forward_backward and sample in protobuf; every other answer stays JSON, with its
 * content type set so that it is sent whatever the Accept header named.
 *
 * <p>Operators read a tenant's futures at {@code /admin/v1/tenants/{tenant_id}/retrieve_future}.
 */
@RestController
class FutureController {

  /** A poll reads its row again this often even unwoken: a missed notification costs no more. */
  private static final long RECHECK_MILLIS = 1000;

  private static final MediaType PROTOBUF = MediaType.parseMediaType(ProtoCodec.MEDIA_TYPE);

  private final Requests requests;
  private final FutureSignals signals;
  private final LatheProperties props;
  private final Tenants tenants;

  FutureController(
      Requests requests, FutureSignals signals, LatheProperties props, Tenants tenants) {
    this.requests = requests;
    this.signals = signals;
    this.props = props;
    this.tenants = tenants;
  }

  @PostMapping("/admin/v1/tenants/{tenantId}/retrieve_future")
  ResponseEntity<?> retrieveForTenant(
      @PathVariable String tenantId, @RequestBody FutureRetrieveRequest req)
      throws InterruptedException {
    return retrieve(tenants.as(tenantId), req, null);
  }

  @PostMapping("/api/v1/retrieve_future")
  ResponseEntity<?> retrieve(
      Caller caller,
      @RequestBody FutureRetrieveRequest req,
      @RequestHeader(name = "Accept", required = false) List<MediaType> accept)
      throws InterruptedException {
    if (req == null || req.requestId() == null || req.requestId().isBlank()) {
      throw ApiException.badRequest("request_id", "is required");
    }
    long deadline = System.nanoTime() + props.limits().longPoll().toNanos();
    try (FutureSignals.Watch watch = signals.watch(req.requestId())) {
      return poll(caller, req, accept, watch, deadline);
    }
  }

  private ResponseEntity<?> poll(
      Caller caller,
      FutureRetrieveRequest req,
      List<MediaType> accept,
      FutureSignals.Watch watch,
      long deadline)
      throws InterruptedException {
    while (true) {
      Requests.Row row =
          requests
              .find(caller, req.requestId())
              .orElseThrow(() -> ApiException.notFound("request_id", req.requestId()));
      switch (row.status()) {
        case "done" -> {
          if (accepts(accept)) {
            byte[] proto = proto(row);
            if (proto != null) {
              return ResponseEntity.ok().contentType(PROTOBUF).body(proto);
            }
          }
          return json(Requests.parse(row.result()));
        }
        case "failed" -> {
          return json(new RequestFailedResponse(row.error(), category(row.category())));
        }
        default -> {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            return json(new TryAgainResponse(row.id(), QueueState.ACTIVE));
          }
          watch.await(Math.min(RECHECK_MILLIS, Math.max(1, left / 1_000_000)));
        }
      }
    }
  }

  /** Whether the client takes protobuf at all (the SDK asks for it alone). */
  private static boolean accepts(List<MediaType> accept) {
    return accept != null && accept.stream().anyMatch(m -> m.equalsTypeAndSubtype(PROTOBUF));
  }

  /** The result in protobuf for the kinds the SDK reads that way; null for the others. */
  private static byte[] proto(Requests.Row row) {
    return switch (row.kind()) {
      case "forward", "forward_backward" ->
          ProtoCodec.encode(WireJson.mapper().readValue(row.result(), ForwardBackwardOutput.class));
      case "sample" ->
          ProtoCodec.encode(WireJson.mapper().readValue(row.result(), SampleResponse.class));
      default -> null;
    };
  }

  private static ResponseEntity<Object> json(Object body) {
    return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(body);
  }

  private static ErrorCategory category(String c) {
    return switch (c == null ? "" : c) {
      case "user" -> ErrorCategory.USER;
      case "server" -> ErrorCategory.SERVER;
      default -> ErrorCategory.UNKNOWN;
    };
  }
}
