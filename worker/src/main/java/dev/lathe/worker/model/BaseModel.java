package dev.lathe.worker.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.io.Tokenizer;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.tiny.LatheTiny;
import dev.lathe.worker.store.TensorSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The frozen base model a worker serves: loaded once from a Hugging Face model directory, with its
 * tokenizer. {@code lathe-tiny} (and {@code lathe-tiny-bench}) are generated on first use.
 */
public record BaseModel(String name, Path dir, LlamaConfig config, Llama llama, Tokenizer tokenizer)
    implements AutoCloseable {

  /**
   * Resolves {@code LATHE_BASE_MODEL}: a built-in name, generated under {@code <dataDir>/models} if
   * needed, or a path to a model directory.
   */
  public static Path resolve(String nameOrPath, Path dataDir, NDManager manager) {
    try {
      for (LatheTiny.Size size : LatheTiny.Size.values()) {
        if (size.modelName().equals(nameOrPath)) {
          return LatheTiny.ensure(dataDir.resolve("models").resolve(nameOrPath), size, manager);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + nameOrPath, e);
    }
    Path dir = Path.of(nameOrPath);
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          nameOrPath + " is neither a built-in model nor a model directory");
    }
    return dir;
  }

  /**
   * Loads config, weights and tokenizer; the model is named after its directory.
   *
   * @throws IllegalArgumentException naming the file and tensor that is missing or wrong
   */
  public static BaseModel load(Path dir, NDManager manager, DataType dtype) {
    Path configFile = dir.resolve("config.json");
    if (!Files.isRegularFile(configFile)) {
      throw new IllegalArgumentException(configFile + ": file is missing");
    }
    LlamaConfig config;
    try {
      config = WireJson.mapper().readValue(configFile.toFile(), LlamaConfig.class).validated();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
    }
    Llama llama = Llama.load(config, TensorSource.open(dir), manager, dtype);
    return new BaseModel(dir.getFileName().toString(), dir, config, llama, Tokenizer.load(dir));
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
