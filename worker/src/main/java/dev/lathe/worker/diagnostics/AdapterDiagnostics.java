package dev.lathe.worker.diagnostics;

import ai.djl.ndarray.NDArray;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsResponse;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LlamaWeights;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What an adapter did to its base model, module by module ({@link Spectra}), with a summary per
 * decoder layer. Reads the frozen base weights and the adapter only, so it may run beside training.
 */
public final class AdapterDiagnostics {

  private final LlamaConfig config;
  private final LlamaWeights weights;
  // Each base weight's singular vectors: computed at its first diagnosis, kept while the worker
  // serves the model (the base never changes); at most one float per entry of each weight.
  private final Map<String, Spectra.Basis> bases = new java.util.concurrent.ConcurrentHashMap<>();

  public AdapterDiagnostics(LlamaConfig config, LlamaWeights weights) {
    this.config = config;
    this.weights = weights;
  }

  /** An adapter's A and B matrices (and DoRA's magnitudes) by PEFT name, copied to host memory. */
  public static Map<String, float[]> tensors(LoraAdapter adapter) {
    Map<String, float[]> out = new HashMap<>();
    for (LoraAdapter.Param p : adapter.parameters()) {
      out.put(
          p.name(), p.value().toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray());
    }
    return out;
  }

  /**
   * @param modelPath the checkpoint diagnosed, or null for a run's live adapter
   * @param modelId the training run whose live adapter is diagnosed, or null for a checkpoint
   * @param tensors the adapter's matrices ({@link #tensors})
   */
  public AdapterDiagnosticsResponse of(
      String modelPath,
      String modelId,
      String baseModel,
      LoraSpec spec,
      Map<String, float[]> tensors,
      int topK,
      double threshold) {
    List<AdapterDiagnosticsResponse.Module> modules = new ArrayList<>();
    for (LoraAdapter.Slot slot : LoraAdapter.slots(config, spec)) {
      NDArray w = weights.weight(slot.layer(), slot.module());
      Spectra.Result r =
          Spectra.of(
              w,
              bases.computeIfAbsent(slot.path(), p -> Spectra.basis(w)),
              tensors.get(LoraAdapter.peftName(slot.path(), "A")),
              tensors.get(LoraAdapter.peftName(slot.path(), "B")),
              spec.dora() ? tensors.get(LoraAdapter.magnitudeName(slot.path())) : null,
              spec.rank(),
              spec.scaling(),
              topK,
              threshold);
      List<Double> sv = new ArrayList<>(r.singularValues().length);
      for (double s : r.singularValues()) {
        sv.add(s);
      }
      modules.add(
          new AdapterDiagnosticsResponse.Module(
              slot.path(),
              slot.layer(),
              slot.module().shortName(),
              r.deltaNorm(),
              r.baseNorm(),
              r.baseNorm() == 0 ? 0 : r.deltaNorm() / r.baseNorm(),
              sv,
              r.effectiveRank(),
              r.intruders(),
              r.magnitudeChange()));
    }
    return new AdapterDiagnosticsResponse(
        modelPath,
        modelId,
        baseModel,
        spec.rank(),
        spec.scaling(),
        spec.dora(),
        topK,
        threshold,
        modules,
        layers(modules));
  }

  private static List<AdapterDiagnosticsResponse.Layer> layers(
      List<AdapterDiagnosticsResponse.Module> modules) {
    Map<Integer, List<AdapterDiagnosticsResponse.Module>> byLayer = new TreeMap<>();
    for (var m : modules) {
      if (m.layer() >= 0) {
        byLayer.computeIfAbsent(m.layer(), l -> new ArrayList<>()).add(m);
      }
    }
    List<AdapterDiagnosticsResponse.Layer> out = new ArrayList<>();
    for (var e : byLayer.entrySet()) {
      double squares = 0;
      double relative = 0;
      double rank = 0;
      int intruders = 0;
      for (var m : e.getValue()) {
        squares += m.deltaNorm() * m.deltaNorm();
        relative += m.relativeNorm();
        rank += m.effectiveRank();
        intruders += m.intruderDimensions();
      }
      int n = e.getValue().size();
      out.add(
          new AdapterDiagnosticsResponse.Layer(
              e.getKey(), n, Math.sqrt(squares), relative / n, rank / n, intruders));
    }
    return out;
  }
}
