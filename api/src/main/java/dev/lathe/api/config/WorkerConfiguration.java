package dev.lathe.api.config;

import dev.lathe.api.future.FutureSignals;
import dev.lathe.api.future.QueueListener;
import dev.lathe.api.system.ServedModel;
import dev.lathe.worker.runtime.ModelInfo;
import dev.lathe.worker.runtime.Worker;
import dev.lathe.worker.runtime.WorkerProcess;
import io.micrometer.core.instrument.MeterRegistry;
import java.lang.management.ManagementFactory;
import java.util.Optional;
import javax.sql.DataSource;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.DependsOn;

/**
 * The in-process worker of all-in-one mode (and of {@code LATHE_ROLE=worker}): it loads the base
 * model once and runs the claim loop against the same database. An api-only process reads the
 * model's config to validate requests.
 */
@Configuration(proxyBeanMethods = false)
class WorkerConfiguration {

  /** This process's worker, if it runs one. */
  record LocalWorker(Optional<WorkerProcess> process) implements AutoCloseable {
    @Override
    public void close() {
      process.ifPresent(WorkerProcess::close);
    }
  }

  @Bean(destroyMethod = "close")
  @DependsOn("flywayInitializer") // the worker claims from tables that migrations create
  LocalWorker localWorker(
      LatheProperties props, DataSource dataSource, FutureSignals signals, MeterRegistry registry) {
    if (!props.role().runsWorker()) {
      return new LocalWorker(Optional.empty());
    }
    Worker.Settings settings =
        new Worker.Settings(
            workerId(props),
            props.dataDir().resolve("adapters"),
            props.worker().gapTimeout(),
            props.worker().claimLimit(),
            props.worker().adapterSlots(),
            props.worker().hostAdapterSlots(),
            props.worker().cycleTokens(),
            props.worker().sessionTimeout(),
            props.worker().decodeRows(),
            props.worker().decodeCache().toBytes(),
            props.worker().requestRetention());
    return new LocalWorker(
        Optional.of(
            WorkerProcess.start(
                dataSource,
                props.baseModel(),
                props.dataDir(),
                props.modelDirPath(),
                settings,
                registry,
                signals::finished)));
  }

  /** LATHE_WORKER_ID; else {@code local} beside the embedded database, else this process's. */
  static String workerId(LatheProperties props) {
    String id = props.worker().id();
    if (id != null && !id.isBlank()) {
      return id;
    }
    return props.db().external()
        ? "worker-" + ManagementFactory.getRuntimeMXBean().getName()
        : "local";
  }

  @Bean
  QueueListener wakeLocalWorker(LocalWorker local) {
    return modelId -> local.process().ifPresent(p -> p.signal(modelId));
  }

  /** Readiness: down when this process should run a worker and its loop is not running. */
  @Bean
  HealthIndicator worker(LocalWorker local) {
    return () ->
        local
            .process()
            .map(
                p -> {
                  var stats = p.stats();
                  var b = p.running() ? Health.up() : Health.down();
                  return b.withDetail("base_model", p.model().name())
                      .withDetail("cycles", stats.cycles())
                      .withDetail("held_requests", stats.held())
                      .build();
                })
            .orElseGet(() -> Health.up().withDetail("role", "api only").build());
  }

  @Bean
  ServedModel servedModel(LatheProperties props, LocalWorker local) {
    ModelInfo m =
        local
            .process()
            .map(WorkerProcess::model)
            .orElseGet(
                () -> ModelInfo.read(props.baseModel(), props.dataDir(), props.modelDirPath()));
    return new ServedModel(m.name(), m.vocabSize(), m.maxContextLength(), m.dir());
  }
}
