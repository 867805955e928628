package dev.lathe.api.system;

import dev.lathe.contracts.system.HealthResponse;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code GET /api/v1/healthz}: the process answers HTTP. Readiness lives under actuator. */
@RestController
class HealthController {

  @GetMapping("/api/v1/healthz")
  HealthResponse healthz() {
    return HealthResponse.ok();
  }
}
