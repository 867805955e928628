package dev.lathe.worker.runtime;

import dev.lathe.contracts.WireJson;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.tiny.LatheTiny;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the api needs to know of a base model, read without loading it. */
public record ModelInfo(String name, int vocabSize, int maxContextLength) {

  static ModelInfo of(String name, LlamaConfig c) {
    return new ModelInfo(name, c.vocabSize(), c.maxPositionEmbeddings());
  }

  /**
   * The model {@code LATHE_BASE_MODEL} names: a built-in one, or a directory's config.json.
   *
   * @throws IllegalArgumentException if it is neither
   */
  public static ModelInfo read(String baseModel) {
    for (LatheTiny.Size size : LatheTiny.Size.values()) {
      if (size.modelName().equals(baseModel)) {
        return of(size.modelName(), size.config());
      }
    }
    Path config = Path.of(baseModel).resolve("config.json");
    if (!Files.isRegularFile(config)) {
      throw new IllegalArgumentException(
          baseModel + " is neither a built-in model nor a model directory");
    }
    LlamaConfig c = WireJson.mapper().readValue(config.toFile(), LlamaConfig.class).validated();
    return of(Path.of(baseModel).getFileName().toString(), c);
  }
}
