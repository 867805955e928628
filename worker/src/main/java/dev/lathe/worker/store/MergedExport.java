package dev.lathe.worker.store;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.model.BaseModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes base + adapter as one plain Hugging Face model: every adapted weight becomes W + s·B·A
 * (DoRA: m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row), so the result loads anywhere without PEFT.
 * A merged lm_head is written untied.
 */
public final class MergedExport {

  private static final List<String> COPIED =
      List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json");

  private MergedExport() {}

  public static void write(BaseModel base, LoraAdapter adapter, Path dir) throws IOException {
    Files.createDirectories(dir);
    TensorSource source = base.tensors();
    Map<String, LoraAdapter.Pair> byWeight = new HashMap<>();
    for (LoraAdapter.Pair p : adapter.pairs().values()) {
      byWeight.put(p.path() + ".weight", p);
    }
    boolean untie = adapter.pairs().values().stream().anyMatch(p -> p.path().equals("lm_head"));
    List<String> names = source.names().stream().sorted().toList();
    try (NDManager m = NDManager.newBaseManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Map<String, NDArray> out = new LinkedHashMap<>();
      for (String name : names) {
        out.put(name, source.load(m, name, DataType.FLOAT32));
      }
      if (untie && !out.containsKey("lm_head.weight")) {
        out.put("lm_head.weight", out.get("model.embed_tokens.weight").duplicate());
      }
      double s = adapter.spec().scaling();
      for (var e : byWeight.entrySet()) {
        LoraAdapter.Pair p = e.getValue();
        NDArray delta = p.b().matMul(p.a()).mul(s).toType(DataType.FLOAT32, false); // [out, in]
        NDArray merged = out.get(e.getKey()).add(delta); // W + s·B·A
        if (p.magnitude() != null) { // DoRA: m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row
          NDArray norms = merged.square().sum(new int[] {1}, true).sqrt(); // [out, 1]
          NDArray mag = p.magnitude().toType(DataType.FLOAT32, false).reshape(-1, 1); // [out, 1]
          merged = merged.mul(mag.div(norms));
        }
        out.put(e.getKey(), merged);
      }
      Safetensors.write(dir.resolve("model.safetensors"), out, Map.of("format", "pt"));
    }
    ObjectNode config =
        (ObjectNode) WireJson.mapper().readTree(base.dir().resolve("config.json").toFile());
    if (untie) {
      config.put("tie_word_embeddings", false);
    }
    config.put("torch_dtype", "float32");
    WireJson.mapper()
        .writerWithDefaultPrettyPrinter()
        .writeValue(dir.resolve("config.json").toFile(), config);
    for (String f : COPIED) {
      if (Files.isRegularFile(base.dir().resolve(f))) {
        Files.copy(
            base.dir().resolve(f),
            dir.resolve(f),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }
}
