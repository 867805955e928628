package dev.lathe.worker.store;

import static dev.lathe.worker.Arrays2.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.llama.Module;
import dev.lathe.worker.optim.AdamW;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** PEFT files: bit-exact round trips, clear refusals of bad files, and merged export. */
class AdapterFilesTest extends WithTinyModel {

  @TempDir Path tmp;

  /** An adapter after two optimizer steps: non-zero B and moments. */
  static LoraAdapter trained(LoraSpec spec) {
    LoraAdapter a = LoraAdapter.create(base.llama(), spec, manager, DataType.FLOAT32);
    var example =
        new ForwardBackward.Example(
            new int[] {1, 2, 3, 4, 5}, Map.of("target_tokens", new double[] {2, 3, 4, 5, 6}));
    for (int i = 0; i < 2; i++) {
      ForwardBackward.run(
          base.llama(), a, List.of(example), LossFn.CROSS_ENTROPY, Map.of(), true, manager);
      AdamW.step(a, new AdamW.Params(1e-2, 0.9, 0.95, 1e-8, 0, 0));
    }
    return a;
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void saveThenLoadIsBitExactWithOptimizerState(boolean dora) throws IOException {
    LoraSpec spec =
        new LoraSpec(
            8,
            16,
            77,
            EnumSet.of(Module.Q_PROJ, Module.DOWN_PROJ, Module.LM_HEAD),
            true,
            2.0,
            dora);
    try (LoraAdapter original = trained(spec)) {
      Path dir = tmp.resolve("ckpt");
      PeftAdapter.save(original, "lathe-tiny", dir, true);
      assertThat(dir.resolve(PeftAdapter.CONFIG)).exists();
      assertThat(dir.resolve(PeftAdapter.WEIGHTS)).exists();
      assertThat(dir.resolve(PeftAdapter.OPTIMIZER)).exists();
      try (LoraAdapter loaded =
          PeftAdapter.load(dir, base.config(), manager, DataType.FLOAT32, true)) {
        assertThat(loaded.spec()).isEqualTo(spec);
        assertThat(loaded.step()).isEqualTo(2);
        List<LoraAdapter.Param> a = original.parameters();
        List<LoraAdapter.Param> b = loaded.parameters();
        assertThat(b).hasSameSizeAs(a);
        assertThat(b.stream().filter(p -> p.name().endsWith(".lora_magnitude_vector")))
            .hasSize(dora ? original.pairs().size() : 0);
        for (int i = 0; i < a.size(); i++) {
          assertThat(b.get(i).name()).isEqualTo(a.get(i).name());
          assertThat(b.get(i).value().toFloatArray())
              .containsExactly(a.get(i).value().toFloatArray());
          assertThat(loaded.moments(b.get(i))[0].toFloatArray())
              .containsExactly(original.moments(a.get(i))[0].toFloatArray());
          assertThat(loaded.moments(b.get(i))[1].toFloatArray())
              .containsExactly(original.moments(a.get(i))[1].toFloatArray());
        }
      }
    }
  }

  @Test
  void aSaveCutShortByACrashLeavesThePreviousVersionLoadable() throws IOException {
    try (LoraAdapter first = trained(LoraSpec.of(4, 5))) {
      Path dir = tmp.resolve("live");
      PeftAdapter.save(first, "lathe-tiny", dir, true);
      Files.move(dir, tmp.resolve("~live.old-42")); // the first of a replace's two renames
      try (LoraAdapter loaded =
          PeftAdapter.load(dir, base.config(), manager, DataType.FLOAT32, true)) {
        assertThat(loaded.step()).isEqualTo(first.step());
        assertThat(loaded.parameters().getLast().value().toFloatArray())
            .containsExactly(first.parameters().getLast().value().toFloatArray());
      }
    }
  }

  @Test
  void badFilesAreRefusedByNameAndChangeNothing() throws IOException {
    try (LoraAdapter original = trained(LoraSpec.of(4, 1))) {
      Path good = tmp.resolve("good");
      PeftAdapter.save(original, "lathe-tiny", good, true);

      Path missing = copy(good, "missing");
      Files.delete(missing.resolve(PeftAdapter.WEIGHTS));
      assertThatThrownBy(
              () -> PeftAdapter.load(missing, base.config(), manager, DataType.FLOAT32, false))
          .hasMessageContaining("adapter_model.safetensors: file is missing");

      Path truncated = copy(good, "truncated");
      byte[] bytes = Files.readAllBytes(truncated.resolve(PeftAdapter.WEIGHTS));
      Files.write(
          truncated.resolve(PeftAdapter.WEIGHTS),
          java.util.Arrays.copyOf(bytes, bytes.length - 100));
      assertThatThrownBy(
              () -> PeftAdapter.load(truncated, base.config(), manager, DataType.FLOAT32, false))
          .hasMessageContaining("adapter_model.safetensors");

      Path wrongRank = copy(good, "rank");
      Path config = wrongRank.resolve(PeftAdapter.CONFIG);
      Files.writeString(config, Files.readString(config).replace("\"r\" : 4", "\"r\" : 8"));
      assertThatThrownBy(
              () -> PeftAdapter.load(wrongRank, base.config(), manager, DataType.FLOAT32, false))
          .hasMessageContaining("has shape");

      Path fewerTargets = copy(good, "targets");
      Path c2 = fewerTargets.resolve(PeftAdapter.CONFIG);
      var json = dev.lathe.contracts.WireJson.mapper();
      var tree = (tools.jackson.databind.node.ObjectNode) json.readTree(c2.toFile());
      var targets = tree.putArray("target_modules");
      for (Module m : Module.values()) {
        if (m != Module.LM_HEAD) {
          targets.add(m.shortName());
        }
      }
      json.writeValue(c2.toFile(), tree);
      assertThatThrownBy(
              () -> PeftAdapter.load(fewerTargets, base.config(), manager, DataType.FLOAT32, false))
          .hasMessageContaining("lm_head.lora_A.weight")
          .hasMessageContaining("not part of this adapter");

      Path noOptimizer = copy(good, "noopt");
      Files.delete(noOptimizer.resolve(PeftAdapter.OPTIMIZER));
      assertThatThrownBy(
              () -> PeftAdapter.load(noOptimizer, base.config(), manager, DataType.FLOAT32, true))
          .hasMessageContaining("optimizer.safetensors");

      Path notJson = copy(good, "json");
      Files.writeString(notJson.resolve(PeftAdapter.CONFIG), "{ not json");
      assertThatThrownBy(
              () -> PeftAdapter.load(notJson, base.config(), manager, DataType.FLOAT32, false))
          .hasMessageContaining("adapter_config.json");

      // The original checkpoint is intact and still loads.
      try (LoraAdapter again =
          PeftAdapter.load(good, base.config(), manager, DataType.FLOAT32, true)) {
        assertThat(again.parameters().get(1).value().toFloatArray())
            .containsExactly(original.parameters().get(1).value().toFloatArray());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void mergedExportIsTheAdaptedModel(boolean dora) throws IOException {
    try (LoraAdapter adapter = trained(LoraSpec.of(4, 3).withDora(dora));
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Path dir = tmp.resolve("merged");
      MergedExport.write(base, adapter, dir);
      try (NDManager m = NDManager.newBaseManager();
          BaseModel merged = BaseModel.load(dir, m, DataType.FLOAT32)) {
        NDArray tokens = manager.create(new long[][] {{9, 8, 7, 6, 5, 4}});
        NDArray adapted = base.llama().forward(tokens, null, adapter.hook(), null);
        NDArray plain = base.llama().forward(tokens, null, LoraHook.NONE, null);
        NDArray mergedOut =
            merged
                .llama()
                .forward(m.create(new long[][] {{9, 8, 7, 6, 5, 4}}), null, LoraHook.NONE, null);
        assertThat(maxAbsDiff(mergedOut, adapted)).isLessThan(1e-5);
        assertThat(maxAbsDiff(plain, adapted))
            .isGreaterThan(1e-3); // the adapter did move the model
      }
    }
  }

  /**
   * Leaves a trained adapter and its logits under target/peft-interop (a DoRA one under
   * target/peft-interop/dora) for src/test/python/test_peft_interop.py, which loads them with
   * Hugging Face PEFT.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void writesAnAdapterForPeft(boolean dora) throws IOException {
    Path out = Path.of("target/peft-interop").toAbsolutePath();
    out = dora ? out.resolve("dora") : out;
    try (LoraAdapter adapter = trained(LoraSpec.of(8, 5).withDora(dora));
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      // The frozen copy's writer for DoRA (what snapshots use), the adapter's own for LoRA.
      if (dora) {
        try (LoraAdapter.Frozen frozen = adapter.freeze(manager)) {
          PeftAdapter.save(frozen, "lathe-tiny", out.resolve("adapter"), Map.of());
        }
      } else {
        PeftAdapter.save(adapter, "lathe-tiny", out.resolve("adapter"), false);
      }
      NDArray tokens = manager.create(new long[][] {{3, 1, 4, 1, 5, 9, 2, 6}});
      NDArray logits = base.llama().forward(tokens, null, adapter.hook(), null);
      // The forgetting probe on the same tokens: its KL from the base model per position.
      int[] ids = {3, 1, 4, 1, 5, 9, 2, 6};
      ForwardBackward.Job probe =
          new ForwardBackward.Job(
              adapter,
              List.of(new ForwardBackward.Example(ids, Map.of("target_tokens", new double[8]))),
              LossFn.CROSS_ENTROPY,
              Map.of(),
              false,
              true);
      float[] kl =
          ForwardBackward.run(base.llama(), List.of(probe), manager).getFirst().kl().getFirst();
      Safetensors.write(
          out.resolve("expected.safetensors"),
          new java.util.LinkedHashMap<>(
              Map.of(
                  "tokens",
                  tokens.toType(DataType.FLOAT32, false),
                  "logits",
                  logits,
                  "kl_from_base",
                  manager.create(kl).reshape(1, ids.length))),
          Map.of("model", TinyModel.dir().toString()));
    }
    assertThat(out.resolve("adapter/adapter_model.safetensors")).exists();
  }

  private static Path copy(Path from, String name) throws IOException {
    Path to = from.resolveSibling(name);
    Files.createDirectories(to);
    try (var files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, to.resolve(f.getFileName()));
      }
    }
    return to;
  }
}
