package dev.lathe.api.system;

import dev.lathe.api.config.LatheProperties;
import dev.lathe.contracts.system.ClientConfigResponse;
import dev.lathe.contracts.system.ClientDynamicConfigResponse;
import dev.lathe.contracts.system.ServerCapabilities;
import dev.lathe.contracts.system.TelemetryResponse;
import java.util.List;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** What the SDK asks before anything else: flags, served models; and its telemetry. */
@RestController
@RequestMapping("/api/v1")
class SystemController {

  private final ServedModel model;
  private final LatheProperties.Limits limits;

  SystemController(ServedModel model, LatheProperties props) {
    this.model = model;
    this.limits = props.limits();
  }

  @PostMapping("/client/config")
  ClientConfigResponse clientConfig() {
    return ClientConfigResponse.of(
        limits.zstdForwardBackward(), limits.maxDatums(), limits.maxBodyBytes());
  }

  @PostMapping("/client/dynamic_config")
  ClientDynamicConfigResponse dynamicConfig() {
    return ClientDynamicConfigResponse.lathe();
  }

  @GetMapping("/get_server_capabilities")
  ServerCapabilities capabilities() {
    return new ServerCapabilities(
        List.of(new ServerCapabilities.SupportedModel(model.name(), model.maxContextLength())));
  }

  /** SDK telemetry is accepted and dropped: Lathe keeps its own metrics. */
  @PostMapping("/telemetry")
  TelemetryResponse telemetry() {
    return TelemetryResponse.accepted();
  }
}
