package dev.lathe.sdk;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The real server for the SDK tests: {@code api/target/lathe.jar} (built earlier in the reactor)
 * started as its own process, all-in-one with the embedded PostgreSQL, on a free port.
 */
final class LatheServer implements AutoCloseable {

  static final String ADMIN_KEY = "lta-sdk-test-" + UUID.randomUUID();
  private final Process process;
  private final Path data;
  private final boolean ownsData;
  private final Path log;
  final String baseUrl;
  private final HttpClient http = HttpClient.newHttpClient();

  /** All-in-one, with its own data directory and embedded PostgreSQL. */
  LatheServer() throws Exception {
    this(Map.of(), null);
  }

  /**
   * A process with extra settings (e.g. {@code LATHE_ROLE} and {@code LATHE_DB_URL}), in {@code
   * dataDir} if given (cluster roles share one adapter store).
   */
  LatheServer(Map<String, String> env, Path dataDir) throws Exception {
    Path jar = Path.of("../../api/target/lathe.jar").toAbsolutePath().normalize();
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " is missing: build the api module first");
    }
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    ownsData = dataDir == null;
    data = dataDir == null ? Files.createTempDirectory("lathe-sdk-java") : dataDir;
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-jar", jar.toString());
    pb.environment().put("LATHE_PORT", Integer.toString(port));
    pb.environment().put("LATHE_DATA_DIR", data.toString());
    pb.environment().put("LATHE_ADMIN_KEY", ADMIN_KEY);
    pb.environment().putAll(env);
    log = data.resolve("server-" + port + ".log");
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    process = pb.start();
    baseUrl = "http://127.0.0.1:" + port;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      try {
        if (http.send(get("/actuator/health/readiness"), HttpResponse.BodyHandlers.discarding())
                .statusCode()
            == 200) {
          break;
        }
      } catch (IOException notYet) {
        // starting
      }
      if (!process.isAlive() || System.nanoTime() > deadline) {
        close();
        throw new IllegalStateException("Lathe did not start:\n" + Files.readString(log));
      }
      Thread.sleep(300);
    }
  }

  /** A new tenant's API key. */
  String newApiKey(String name) throws Exception {
    JsonNode tenant = admin("/admin/v1/tenants", "{\"name\": \"" + name + "\"}");
    return admin("/admin/v1/tenants/" + tenant.get("tenant_id").asString() + "/api_keys", "{}")
        .get("api_key")
        .asString();
  }

  private JsonNode admin(String path, String body) throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(baseUrl + path))
                .header("X-API-Key", ADMIN_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200 && r.statusCode() != 201) {
      throw new IllegalStateException(path + ": " + r.statusCode() + " " + r.body());
    }
    return JsonMapper.builder().build().readTree(r.body());
  }

  /** A GET without a key (health, metrics); the JSON body. */
  JsonNode getJson(String path) throws Exception {
    HttpResponse<String> r = http.send(get(path), HttpResponse.BodyHandlers.ofString());
    return JsonMapper.builder().build().readTree(r.body());
  }

  private HttpRequest get(String path) {
    return HttpRequest.newBuilder(URI.create(baseUrl + path))
        .timeout(Duration.ofSeconds(2))
        .build();
  }

  /** What the process has logged so far. */
  String log() throws IOException {
    return Files.readString(log);
  }

  /** Kills the process at once, as a crash would. */
  void kill() throws InterruptedException {
    process.destroyForcibly().waitFor();
  }

  @Override
  public void close() throws Exception {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
    if (ownsData) {
      try (var files = Files.walk(data)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
