package dev.lathe.worker.runtime;

import dev.lathe.contracts.WireJson;
import dev.lathe.worker.model.ModelLocator;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.tiny.LatheTiny;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What the api needs to know of a base model, read without loading it: its name, vocabulary and
 * context, and the directory its tokenizer files are in.
 */
public record ModelInfo(String name, int vocabSize, int maxContextLength, Path dir) {

  static ModelInfo of(String name, LlamaConfig c, Path dir) {
    return new ModelInfo(name, c.vocabSize(), c.maxPositionEmbeddings(), dir);
  }

  /**
   * The model {@code LATHE_BASE_MODEL} names ({@link ModelLocator}); a GGUF model's directory is
   * prepared on the way.
   *
   * @throws IllegalArgumentException if it names no model
   */
  public static ModelInfo read(String baseModel, Path dataDir, Path modelDir) {
    Path dir = ModelLocator.locate(baseModel, dataDir, modelDir);
    Optional<LatheTiny.Size> builtIn = ModelLocator.builtIn(baseModel);
    if (builtIn.isPresent()) {
      return of(baseModel, builtIn.get().config(), dir);
    }
    Path config = dir.resolve("config.json");
    if (!Files.isRegularFile(config)) {
      throw new IllegalArgumentException(config + ": file is missing");
    }
    LlamaConfig c = WireJson.mapper().readValue(config.toFile(), LlamaConfig.class).validated();
    return of(dir.getFileName().toString(), c, dir);
  }
}
