package dev.lathe.worker;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.tiny.LatheTiny;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** lathe-tiny generated once per test JVM, loaded in float32 or float64. */
public final class TinyModel {

  private static Path dir;

  private TinyModel() {}

  public static synchronized Path dir() {
    if (dir == null) {
      try (NDManager m = NDManager.newBaseManager()) {
        // Under target/ so that the golden-vector script can load the very same files.
        dir =
            LatheTiny.ensure(
                Path.of("target", LatheTiny.NAME).toAbsolutePath(), LatheTiny.Size.TINY, m);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return dir;
  }

  public static BaseModel load(NDManager manager, DataType dtype) {
    return BaseModel.load(dir(), manager, dtype);
  }
}
