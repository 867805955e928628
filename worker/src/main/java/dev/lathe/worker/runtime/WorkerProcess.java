package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.model.BaseModel;
import java.nio.file.Path;
import java.util.function.Consumer;
import javax.sql.DataSource;

/**
 * A running worker with its base model loaded: what the api starts in all-in-one mode and what a
 * worker process runs alone. The engine's arrays stay behind this class.
 */
public final class WorkerProcess implements AutoCloseable {

  private final NDManager manager;
  private final BaseModel model;
  private final Worker worker;

  private WorkerProcess(NDManager manager, BaseModel model, Worker worker) {
    this.manager = manager;
    this.model = model;
    this.worker = worker;
  }

  /**
   * Loads the base model (generating a built-in one under {@code dataDir/models} if needed; named
   * GGUF models are looked for in {@code modelDir} first, which may be null) and starts the claim
   * loop; adapters are stored under {@code settings.storage()}.
   */
  public static WorkerProcess start(
      DataSource ds,
      String baseModel,
      Path dataDir,
      Path modelDir,
      Worker.Settings settings,
      io.micrometer.core.instrument.MeterRegistry registry,
      Consumer<String> onFinished) {
    System.setProperty("ai.djl.offline", "true");
    NDManager manager = NDManager.newBaseManager();
    try {
      Path dir = BaseModel.resolve(baseModel, dataDir, modelDir, manager);
      BaseModel model = BaseModel.load(dir, manager, DataType.FLOAT32);
      Worker worker = new Worker(ds, model, manager, settings, registry, onFinished).start();
      return new WorkerProcess(manager, model, worker);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  public ModelInfo model() {
    return ModelInfo.of(model.name(), model.config(), model.dir());
  }

  /** What the loop has done so far. */
  public Worker.Stats stats() {
    return worker.stats();
  }

  /** Whether the worker loop is running. */
  public boolean running() {
    return worker.running();
  }

  /** A request of training run {@code modelId} (null: of none) was queued: look now. */
  public void signal(String modelId) {
    worker.signal(modelId);
  }

  @Override
  public void close() {
    worker.close();
    model.close();
    manager.close();
  }
}
