package dev.lathe.api.config;

import dev.lathe.api.auth.AdminKeys;
import dev.lathe.api.tenant.Tenants;
import dev.lathe.contracts.admin.ApiKeyCreated;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContext;
import org.springframework.stereotype.Component;

/**
 * On the first start: the admin key (from {@code LATHE_ADMIN_KEY}, or generated and printed once),
 * and in all-in-one mode a demo tenant whose key is printed with a quick start.
 */
@Component
class FirstStart implements ApplicationRunner {

  private static final Logger log = LoggerFactory.getLogger(FirstStart.class);

  private final LatheProperties props;
  private final AdminKeys adminKeys;
  private final Tenants tenants;
  private final ApplicationContext context;

  FirstStart(
      LatheProperties props, AdminKeys adminKeys, Tenants tenants, ApplicationContext context) {
    this.props = props;
    this.adminKeys = adminKeys;
    this.tenants = tenants;
    this.context = context;
  }

  @Override
  public void run(ApplicationArguments args) {
    if (!props.role().runsApi()) {
      return;
    }
    String generated = adminKeys.ensure(props.adminKey());
    StringBuilder out = new StringBuilder();
    if (generated != null) {
      out.append("\n  Admin key (shown once, store it): ").append(generated);
    }
    if (props.role() == LatheProperties.Role.ALL && tenants.count() == 0) {
      String tenantId = tenants.create("demo").tenantId();
      ApiKeyCreated key = tenants.issueKey(tenantId, "demo");
      String base = "http://127.0.0.1:" + port();
      out.append("\n  Demo tenant API key (shown once): ")
          .append(key.apiKey())
          .append("\n\n  Quick start:")
          .append("\n    curl -s -H 'X-API-Key: ")
          .append(key.apiKey())
          .append("' ")
          .append(base)
          .append("/api/v1/get_server_capabilities")
          .append("\n    pip install tinker")
          .append("\n    TINKER_API_KEY=")
          .append(key.apiKey())
          .append(" python -c \"import tinker; print(tinker.RestClient(base_url='")
          .append(base)
          .append("').get_server_capabilities().result())\"");
    }
    if (!out.isEmpty()) {
      log.info("Lathe is ready on port {}{}\n", port(), out);
    }
  }

  private int port() {
    return context instanceof WebServerApplicationContext w ? w.getWebServer().getPort() : -1;
  }
}
