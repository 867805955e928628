package dev.lathe.worker.store;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.Module;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Adapters on disk in Hugging Face PEFT's layout, so PEFT and vLLM load them: {@code
 * adapter_config.json} and {@code adapter_model.safetensors} (with {@code use_dora} and each
 * module's {@code lora_magnitude_vector} for DoRA). A resumable checkpoint adds {@code
 * optimizer.safetensors} with AdamW's moments and step.
 */
public final class PeftAdapter {

  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";
  public static final String OPTIMIZER = "optimizer.safetensors";

  private PeftAdapter() {}

  /**
   * Writes the adapter (and its optimizer state) into {@code dir}, replacing what was there only
   * once every file is complete.
   */
  public static void save(LoraAdapter adapter, String baseModel, Path dir, boolean withOptimizer)
      throws IOException {
    save(adapter, baseModel, dir, withOptimizer, Map.of());
  }

  /** As {@link #save}, with extra files written into the directory in the same atomic swap. */
  public static void save(
      LoraAdapter adapter,
      String baseModel,
      Path dir,
      boolean withOptimizer,
      Map<String, byte[]> extras)
      throws IOException {
    Path tmp = Trees.staging(dir);
    try {
      writeConfig(adapter.spec(), baseModel, tmp);
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      for (LoraAdapter.Param p : adapter.parameters()) {
        tensors.put(p.name(), p.value());
      }
      Safetensors.write(tmp.resolve(WEIGHTS), tensors, Map.of("format", "pt"));
      if (withOptimizer) {
        Map<String, NDArray> state = new LinkedHashMap<>();
        for (LoraAdapter.Param p : adapter.parameters()) {
          NDArray[] mv = adapter.moments(p);
          state.put("exp_avg." + p.name(), mv[0]);
          state.put("exp_avg_sq." + p.name(), mv[1]);
        }
        Safetensors.write(
            tmp.resolve(OPTIMIZER), state, Map.of("step", Integer.toString(adapter.step())));
      }
      for (var e : extras.entrySet()) {
        Files.write(tmp.resolve(e.getKey()), e.getValue());
      }
      Trees.replace(tmp, dir);
    } finally {
      Trees.delete(tmp);
    }
  }

  /**
   * Saves a frozen copy of an adapter ({@link LoraAdapter#freeze}) with its optimizer state, as
   * {@link #save} does, straight from its flat buffers: three copies to host memory and no other
   * tensor operation, so that it can run beside training without taking its cores.
   */
  public static void save(
      LoraAdapter.Frozen frozen, String baseModel, Path dir, Map<String, byte[]> extras)
      throws IOException {
    Path tmp = Trees.staging(dir);
    try {
      writeConfig(frozen.spec(), baseModel, tmp);
      boolean f64 = frozen.flat().getDataType() == DataType.FLOAT64;
      int width = f64 ? 8 : 4;
      ByteBuffer values = Safetensors.bytes(frozen.flat());
      ByteBuffer m = Safetensors.bytes(frozen.m());
      ByteBuffer v = Safetensors.bytes(frozen.v());
      List<Safetensors.Raw> weights = new ArrayList<>();
      List<Safetensors.Raw> state = new ArrayList<>();
      int at = 0;
      for (LoraAdapter.Frozen.Slot slot : frozen.layout()) {
        Map<String, Shape> parts = new LinkedHashMap<>(); // in parameter order
        parts.put(LoraAdapter.peftName(slot.path(), "A"), slot.a());
        parts.put(LoraAdapter.peftName(slot.path(), "B"), slot.b());
        if (slot.magnitude() != null) {
          parts.put(LoraAdapter.magnitudeName(slot.path()), slot.magnitude());
        }
        for (var part : parts.entrySet()) {
          long[] shape = part.getValue().getShape();
          int bytes = Math.toIntExact(part.getValue().size() * width);
          String name = part.getKey();
          weights.add(new Safetensors.Raw(name, f64, shape, values.slice(at, bytes)));
          state.add(new Safetensors.Raw("exp_avg." + name, f64, shape, m.slice(at, bytes)));
          state.add(new Safetensors.Raw("exp_avg_sq." + name, f64, shape, v.slice(at, bytes)));
          at += bytes;
        }
      }
      Safetensors.write(tmp.resolve(WEIGHTS), weights, Map.of("format", "pt"));
      Safetensors.write(
          tmp.resolve(OPTIMIZER), state, Map.of("step", Integer.toString(frozen.step())));
      for (var e : extras.entrySet()) {
        Files.write(tmp.resolve(e.getKey()), e.getValue());
      }
      Trees.replace(tmp, dir);
    } finally {
      Trees.delete(tmp);
    }
  }

  private static void writeConfig(LoraSpec spec, String baseModel, Path dir) throws IOException {
    ObjectNode config = WireJson.mapper().createObjectNode();
    config.put("peft_type", "LORA").put("task_type", "CAUSAL_LM");
    config.put("base_model_name_or_path", baseModel);
    config.put("r", spec.rank()).put("lora_alpha", spec.alpha());
    config.put("use_rslora", spec.rslora()).put("lora_dropout", 0.0).put("bias", "none");
    config.put("fan_in_fan_out", false).put("inference_mode", true);
    config.put("use_dora", spec.dora());
    var targets = config.putArray("target_modules");
    spec.targets().stream().sorted().forEach(m -> targets.add(m.shortName()));
    config.putObject("lathe").put("seed", spec.seed()).put("lora_plus_ratio", spec.loraPlusRatio());
    // As bytes, so that a refused write is the store's IOException, not the JSON writer's.
    Files.write(
        dir.resolve(CONFIG),
        WireJson.mapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
  }

  /** The LoRA configuration of a saved adapter. */
  public static LoraSpec readSpec(Path dir) {
    Path file = dir.resolve(CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": file is missing");
    }
    JsonNode c;
    try {
      c = WireJson.mapper().readTree(file.toFile());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(file + ": not valid JSON", e);
    }
    if (!"LORA".equals(text(c, "peft_type"))) {
      throw new IllegalArgumentException(file + ": peft_type must be LORA");
    }
    Set<Module> targets = EnumSet.noneOf(Module.class);
    JsonNode list = c.get("target_modules");
    if (list == null || !list.isArray()) {
      throw new IllegalArgumentException(file + ": target_modules must be a list");
    }
    for (JsonNode t : list) {
      targets.add(module(file, t.asString()));
    }
    JsonNode lathe = c.path("lathe");
    try {
      return new LoraSpec(
          c.path("r").asInt(0),
          c.path("lora_alpha").asDouble(0),
          lathe.path("seed").asLong(0),
          targets,
          c.path("use_rslora").asBoolean(false),
          lathe.path("lora_plus_ratio").asDouble(1.0),
          c.path("use_dora").asBoolean(false));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Loads a saved adapter for a model. Every tensor is checked before anything is returned, so a
   * corrupt or mismatched directory changes nothing.
   *
   * @throws IllegalArgumentException naming the file and tensor that is wrong
   */
  public static LoraAdapter load(
      Path saved, LlamaConfig model, NDManager parent, DataType dtype, boolean withOptimizer) {
    GradMode.off(); // optimizer state is copied in place
    Path dir;
    try {
      dir = Trees.current(saved).orElse(saved);
    } catch (IOException e) {
      throw new UncheckedIOException(saved + ": cannot be read", e);
    }
    LoraSpec spec = readSpec(dir);
    Path weights = dir.resolve(WEIGHTS);
    NDManager m = parent.newSubManager();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Safetensors.File file = Safetensors.open(weights);
      Map<String, LoraAdapter.Pair> pairs = new LinkedHashMap<>();
      List<String> expected = new ArrayList<>();
      for (LoraAdapter.Slot s : LoraAdapter.slots(model, spec)) {
        int[] io = s.module().inOut(model);
        String a = LoraAdapter.peftName(s.path(), "A");
        String b = LoraAdapter.peftName(s.path(), "B");
        expected.add(a);
        expected.add(b);
        NDArray aw = file.load(m, a, dtype, spec.rank(), io[0]);
        NDArray bw = file.load(m, b, dtype, io[1], spec.rank());
        NDArray mw = null;
        if (spec.dora()) {
          String mag = LoraAdapter.magnitudeName(s.path());
          expected.add(mag);
          mw = file.load(m, mag, dtype, io[1]);
          NDScope.unregister(mw);
        }
        NDScope.unregister(aw, bw);
        pairs.put(s.path(), new LoraAdapter.Pair(s.path(), s.layer(), s.module(), aw, bw, mw));
      }
      for (String name : file.entries().keySet()) {
        if (!expected.contains(name)) {
          throw new IllegalArgumentException(
              weights + ": tensor '" + name + "' is not part of this adapter's configuration");
        }
      }
      LoraAdapter adapter = LoraAdapter.of(spec, m, pairs);
      if (withOptimizer) {
        loadOptimizer(dir.resolve(OPTIMIZER), adapter, dtype);
      }
      return adapter;
    } catch (IOException e) {
      m.close();
      throw new UncheckedIOException(weights + ": cannot be read", e);
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
  }

  private static void loadOptimizer(Path file, LoraAdapter adapter, DataType dtype)
      throws IOException {
    Safetensors.File f = Safetensors.open(file);
    String step = f.metadata().get("step");
    int t;
    try {
      t = Integer.parseInt(step);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(file + ": metadata step is missing or not a number");
    }
    if (t < 0) {
      throw new IllegalArgumentException(file + ": step must not be negative");
    }
    for (LoraAdapter.Param p : adapter.parameters()) {
      long[] shape = p.value().getShape().getShape();
      NDArray m = f.load(adapter.manager(), "exp_avg." + p.name(), dtype, shape);
      NDArray v = f.load(adapter.manager(), "exp_avg_sq." + p.name(), dtype, shape);
      NDArray[] mv = adapter.moments(p);
      mv[0].muli(0).addi(m);
      mv[1].muli(0).addi(v);
      m.close();
      v.close();
    }
    adapter.setStep(t);
  }

  private static Module module(Path file, String name) {
    for (Module m : Module.values()) {
      if (m.shortName().equals(name)) {
        return m;
      }
    }
    throw new IllegalArgumentException(file + ": target module '" + name + "' is not supported");
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null ? null : v.asString();
  }
}
