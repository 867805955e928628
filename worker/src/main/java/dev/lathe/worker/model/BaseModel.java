package dev.lathe.worker.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.io.Tokenizer;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LlamaGguf;
import dev.lathe.worker.model.tiny.LatheTiny;
import dev.lathe.worker.store.Gguf;
import dev.lathe.worker.store.TensorSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The frozen base model a worker serves: loaded once from a model directory (Hugging Face, or a
 * GGUF file with the files {@link ModelLocator} writes beside it), with its tokenizer. {@code
 * lathe-tiny} (and {@code lathe-tiny-bench}) are generated on first use.
 */
public record BaseModel(String name, Path dir, LlamaConfig config, Llama llama, Tokenizer tokenizer)
    implements AutoCloseable {

  /**
   * Resolves {@code LATHE_BASE_MODEL} to a model directory ({@link ModelLocator}); a built-in model
   * is generated under {@code <dataDir>/models} if needed.
   *
   * @param modelDir where named GGUF models are looked for first ({@code LATHE_MODEL_DIR}), or null
   */
  public static Path resolve(String nameOrPath, Path dataDir, Path modelDir, NDManager manager) {
    Optional<LatheTiny.Size> builtIn = ModelLocator.builtIn(nameOrPath);
    if (builtIn.isPresent()) {
      try {
        return LatheTiny.ensure(
            ModelLocator.locate(nameOrPath, dataDir, modelDir), builtIn.get(), manager);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + nameOrPath, e);
      }
    }
    return ModelLocator.locate(nameOrPath, dataDir, modelDir);
  }

  public static Path resolve(String nameOrPath, Path dataDir, NDManager manager) {
    return resolve(nameOrPath, dataDir, null, manager);
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
    Llama llama = Llama.load(config, tensors(dir, config), manager, dtype);
    return new BaseModel(dir.getFileName().toString(), dir, config, llama, Tokenizer.load(dir));
  }

  /** The weights of a model directory: its GGUF file if it has one, else its safetensors. */
  static TensorSource tensors(Path dir, LlamaConfig config) {
    Path gguf = dir.resolve(ModelLocator.GGUF_FILE);
    return Files.exists(gguf) ? LlamaGguf.tensors(Gguf.open(gguf), config) : TensorSource.open(dir);
  }

  /** This model's weights, as it was loaded from them. */
  public TensorSource tensors() {
    return tensors(dir, config);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
