package dev.lathe.worker.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.engine.Scalars;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.llama.Module;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * One tenant's LoRA adapter: W' = W + s·B·A on each adapted linear, A [r, in] and B [out, r] in
 * PEFT's layout. A starts Kaiming-uniform from the seed and B at zero, so step 0 is the base model.
 * The parameters collect gradients; AdamW's moments live beside them.
 */
public final class LoraAdapter implements AutoCloseable {

  /** The A and B of one adapted linear, keyed by its PEFT module path. */
  public record Pair(String path, int layer, Module module, NDArray a, NDArray b) {}

  private final LoraSpec spec;
  private final NDManager manager;
  private final Map<String, Pair> pairs;
  private final Map<String, Pair> byLayerModule = new LinkedHashMap<>();
  private final Map<String, NDArray[]> moments = new LinkedHashMap<>();
  private int step;
  private final NDArray scale; // s = α/r (or α/√r), a tensor so that backward can read it

  private LoraAdapter(LoraSpec spec, NDManager manager, Map<String, Pair> pairs) {
    this.spec = spec;
    this.manager = manager;
    this.pairs = pairs;
    LoraAdapter.Pair any = pairs.values().iterator().next();
    this.scale = Scalars.of(manager, spec.scaling(), any.a().getDataType());
    NDScope.unregister(scale);
    for (Pair p : pairs.values()) {
      byLayerModule.put(p.layer() + "/" + p.module(), p);
      p.a().setRequiresGradient(true);
      p.b().setRequiresGradient(true);
    }
  }

  /** A fresh adapter for a model: A ~ U(±1/√in) from the seed (PEFT's Kaiming-uniform), B = 0. */
  public static LoraAdapter create(LlamaConfig c, LoraSpec spec, NDManager parent, DataType dtype) {
    NDManager m = parent.newSubManager();
    Map<String, Pair> pairs = new LinkedHashMap<>();
    for (Slot s : slots(c, spec)) {
      int in = s.module().inOut(c)[0];
      int out = s.module().inOut(c)[1];
      Random rng = new Random(spec.seed() * 1_000_003L + s.path().hashCode());
      double bound = 1.0 / Math.sqrt(in);
      double[] a = new double[spec.rank() * in];
      for (int i = 0; i < a.length; i++) {
        a[i] = (rng.nextDouble() * 2 - 1) * bound;
      }
      NDArray aw = m.create(a, new Shape(spec.rank(), in)).toType(dtype, false);
      NDArray bw = m.zeros(new Shape(out, spec.rank()), dtype);
      NDScope.unregister(aw, bw); // the adapter outlives any scope it is created in
      pairs.put(s.path(), new Pair(s.path(), s.layer(), s.module(), aw, bw));
    }
    return new LoraAdapter(spec, m, pairs);
  }

  /** An adapter from A and B arrays that live in {@code m}, which the adapter then owns. */
  public static LoraAdapter of(LoraSpec spec, NDManager m, Map<String, Pair> pairs) {
    return new LoraAdapter(spec, m, pairs);
  }

  /** Where this spec puts adapters on a model, in a fixed order. */
  public static List<Slot> slots(LlamaConfig c, LoraSpec spec) {
    List<Slot> out = new ArrayList<>();
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      for (Module mod : Module.values()) {
        if (mod != Module.LM_HEAD && spec.adapts(mod)) {
          out.add(new Slot(l, mod, mod.path(l)));
        }
      }
    }
    if (spec.adapts(Module.LM_HEAD)) {
      out.add(new Slot(-1, Module.LM_HEAD, Module.LM_HEAD.path(-1)));
    }
    return out;
  }

  /** A module an adapter covers. */
  public record Slot(int layer, Module module, String path) {}

  public LoraSpec spec() {
    return spec;
  }

  public NDManager manager() {
    return manager;
  }

  public Map<String, Pair> pairs() {
    return Collections.unmodifiableMap(pairs);
  }

  /** Steps taken by the optimizer. */
  public int step() {
    return step;
  }

  public void setStep(int step) {
    this.step = step;
  }

  /** A trainable tensor under its PEFT name; {@code isB} for LoRA+'s separate learning rate. */
  public record Param(String name, NDArray value, boolean isB) {}

  /** Every trainable parameter, A then B of each module, named as PEFT names them. */
  public List<Param> parameters() {
    List<Param> out = new ArrayList<>(pairs.size() * 2);
    for (Pair p : pairs.values()) {
      out.add(new Param(peftName(p.path(), "A"), p.a(), false));
      out.add(new Param(peftName(p.path(), "B"), p.b(), true));
    }
    return out;
  }

  /**
   * PEFT's tensor name, e.g. {@code
   * base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight}.
   */
  public static String peftName(String modulePath, String ab) {
    return "base_model.model." + modulePath + ".lora_" + ab + ".weight";
  }

  /** AdamW's first and second moments of a parameter [m, v], created at zero on first use. */
  public NDArray[] moments(Param p) {
    return moments.computeIfAbsent(
        p.name(),
        n -> {
          NDArray[] mv = {
            manager.zeros(p.value().getShape(), p.value().getDataType()),
            manager.zeros(p.value().getShape(), p.value().getDataType())
          };
          NDScope.unregister(mv); // optimizer state outlives the step that creates it
          return mv;
        });
  }

  /** This adapter applied to every row of a batch. */
  public LoraHook hook() {
    return (layer, module, x, y) -> {
      NDArray d = delta(layer, module, x);
      return d == null ? y : y.add(d);
    };
  }

  /**
   * This adapter's delta s·x·Aᵀ·Bᵀ [B, T, out] for the linear at {@code layer}/{@code module} with
   * input x [B, T, in], or null where it does not adapt that linear.
   */
  public NDArray delta(int layer, Module module, NDArray x) {
    Pair p = byLayerModule.get(layer + "/" + module);
    if (p == null) {
      return null;
    }
    // x [B, T, in] · Aᵀ [in, r] · Bᵀ [r, out] · s
    return x.matMul(p.a().transpose()).matMul(p.b().transpose()).mul(scale);
  }

  /** The rank of this adapter. */
  public int rank() {
    return spec.rank();
  }

  /** Sets every accumulated gradient to zero. */
  public void zeroGradients() {
    for (Param p : parameters()) {
      NDArray g = p.value().getGradient();
      g.muli(0);
      g.close();
    }
  }

  @Override
  public void close() {
    manager.close();
  }
}
