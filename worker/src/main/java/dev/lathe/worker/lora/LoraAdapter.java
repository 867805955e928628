package dev.lathe.worker.lora;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.engine.Scalars;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LlamaWeights;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.llama.Module;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * One tenant's LoRA adapter: W' = W + s·B·A on each adapted linear, A [r, in] and B [out, r] in
 * PEFT's layout. A starts Kaiming-uniform from the seed and B at zero, so step 0 is the base model.
 * The parameters collect gradients; AdamW's moments live beside them.
 *
 * <p>The parameters are views of one flat buffer, the one leaf that collects gradients: a recorded
 * forward pass splits them off it afresh ({@link #forPass}), so that their gradients reach it as
 * one, and the optimizer reads and zeroes one gradient however many tensors the adapter has.
 *
 * <p>A DoRA adapter also trains a magnitude m [out] per linear: W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖,
 * the norm taken over each output row (PEFT's DoRA). m starts at ‖W‖ per row, so step 0 is still
 * the base model. The gradient flows through the norm as well (PEFT detaches it to save memory;
 * here it costs an [out, r] product, not an [out, in] one: see {@link #doraScale}).
 */
public final class LoraAdapter implements AutoCloseable {

  /** The A and B of one adapted linear, keyed by its PEFT module path; DoRA's m [out] or null. */
  public record Pair(
      String path, int layer, Module module, NDArray a, NDArray b, NDArray magnitude) {

    /** A plain LoRA pair. */
    public Pair(String path, int layer, Module module, NDArray a, NDArray b) {
      this(path, layer, module, a, b, null);
    }

    /** The pair's tensors in parameter order: A, B, then m if it has one. */
    List<NDArray> tensors() {
      return magnitude == null ? List.of(a, b) : List.of(a, b, magnitude);
    }
  }

  private final LoraSpec spec;
  private final NDManager manager;
  private final Map<String, Pair> pairs;
  private final Map<String, Pair> byLayerModule = new LinkedHashMap<>();
  private final Map<String, NDArray[]> moments = new LinkedHashMap<>();
  private int step;
  private final NDArray scale; // s = α/r (or α/√r), a tensor so that backward can read it
  // Every parameter is a view of one flat buffer, in parameters() order, so that the optimizer
  // updates all of them with a handful of operations; the moments are flat alike.
  private final NDArray flat; // [P]
  private final long[] offsets; // parameter i is flat[offsets[i], offsets[i + 1])
  private NDArray flatM; // [P], created at the first step
  private NDArray flatV; // [P]

  private LoraAdapter(LoraSpec spec, NDManager manager, Map<String, Pair> given) {
    this.spec = spec;
    this.manager = manager;
    LoraAdapter.Pair any = given.values().iterator().next();
    DataType dtype = any.a().getDataType();
    this.scale = Scalars.of(manager, spec.scaling(), dtype);
    NDList parts = new NDList();
    for (Pair p : given.values()) {
      if ((p.magnitude() != null) != spec.dora()) {
        throw new IllegalArgumentException(
            p.path() + ": a DoRA adapter has a magnitude on every module, a LoRA adapter on none");
      }
      for (NDArray w : p.tensors()) {
        parts.add(w.reshape(-1));
      }
    }
    offsets = new long[parts.size() + 1];
    for (int i = 0; i < parts.size(); i++) {
      offsets[i + 1] = offsets[i] + parts.get(i).size();
    }
    this.flat = NDArrays.concat(parts);
    parts.close();
    this.pairs = new LinkedHashMap<>();
    int i = 0;
    for (Pair p : given.values()) {
      NDArray a = view(flat, i++, p.a().getShape());
      NDArray b = view(flat, i++, p.b().getShape());
      NDArray m = p.magnitude() == null ? null : view(flat, i++, p.magnitude().getShape());
      Pair viewed = new Pair(p.path(), p.layer(), p.module(), a, b, m);
      for (NDArray original : p.tensors()) {
        original.close();
      }
      pairs.put(p.path(), viewed);
      byLayerModule.put(p.layer() + "/" + p.module(), viewed);
    }
    flat.setRequiresGradient(true);
    NDScope.unregister(scale, flat);
  }

  /** Parameter {@code i} of a flat buffer, as a view in its own shape. */
  private NDArray view(NDArray buffer, int i, Shape shape) {
    NDArray v = buffer.get(new NDIndex("{}:{}", offsets[i], offsets[i + 1])).reshape(shape);
    NDScope.unregister(v);
    return v;
  }

  /**
   * A fresh LoRA adapter for a model: A ~ U(±1/√in) from the seed (PEFT's Kaiming-uniform), B = 0.
   *
   * @throws IllegalArgumentException for a DoRA spec, whose magnitudes start at the base weights'
   *     (see {@link #create(Llama, LoraSpec, NDManager, DataType)})
   */
  public static LoraAdapter create(LlamaConfig c, LoraSpec spec, NDManager parent, DataType dtype) {
    if (spec.dora()) {
      throw new IllegalArgumentException("a DoRA adapter is created from the model's weights");
    }
    return create(c, null, spec, parent, dtype);
  }

  /** A fresh adapter for a model, LoRA or DoRA (m = ‖W‖ per output row). */
  public static LoraAdapter create(Llama model, LoraSpec spec, NDManager parent, DataType dtype) {
    return create(model.config(), model.weights(), spec, parent, dtype);
  }

  private static LoraAdapter create(
      LlamaConfig c, LlamaWeights weights, LoraSpec spec, NDManager parent, DataType dtype) {
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
      NDArray mw = spec.dora() ? rowNorms(weights.weight(s.layer(), s.module()), dtype, m) : null;
      NDScope.unregister(aw, bw); // the adapter outlives any scope it is created in
      pairs.put(s.path(), new Pair(s.path(), s.layer(), s.module(), aw, bw, mw));
    }
    return new LoraAdapter(spec, m, pairs);
  }

  /** ‖W‖ of each output row [out] of a weight [out, in], in {@code m}. */
  private static NDArray rowNorms(NDArray weight, DataType dtype, NDManager m) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray norms = weight.toType(dtype, true).square().sum(new int[] {1}).sqrt(); // [out]
      NDScope.unregister(norms);
      norms.attach(m);
      return norms;
    }
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

  /**
   * Every trainable parameter, A then B (then DoRA's m) of each module, named as PEFT names them.
   */
  public List<Param> parameters() {
    List<Param> out = new ArrayList<>(pairs.size() * 3);
    for (Pair p : pairs.values()) {
      out.add(new Param(peftName(p.path(), "A"), p.a(), false));
      out.add(new Param(peftName(p.path(), "B"), p.b(), true));
      if (p.magnitude() != null) {
        out.add(new Param(magnitudeName(p.path()), p.magnitude(), false));
      }
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

  /**
   * PEFT's name of DoRA's magnitude, e.g. {@code
   * base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector}.
   */
  public static String magnitudeName(String modulePath) {
    return "base_model.model." + modulePath + ".lora_magnitude_vector";
  }

  /** AdamW's first and second moments of a parameter [m, v], created at zero on first use. */
  public NDArray[] moments(Param p) {
    flatMoments();
    return moments.get(p.name());
  }

  /**
   * Every parameter, flat [P] in {@link #parameters()} order: the parameters are views of it, so an
   * in-place update of this array updates them all.
   */
  public NDArray flatParameters() {
    return flat;
  }

  /** The moments [m, v], flat as {@link #flatParameters()}; each parameter's are views of them. */
  public NDArray[] flatMoments() {
    if (flatM == null) {
      flatM = manager.zeros(flat.getShape(), flat.getDataType());
      flatV = manager.zeros(flat.getShape(), flat.getDataType());
      NDScope.unregister(flatM, flatV); // optimizer state outlives the step that creates it
      List<Param> params = parameters();
      for (int i = 0; i < params.size(); i++) {
        Shape shape = params.get(i).value().getShape();
        moments.put(
            params.get(i).name(), new NDArray[] {view(flatM, i, shape), view(flatV, i, shape)});
      }
    }
    return new NDArray[] {flatM, flatV};
  }

  /**
   * The accumulated gradients, flat as {@link #flatParameters()} (zeros before any backward pass):
   * the caller closes this handle, not the gradient.
   */
  public NDArray flatGradient() {
    return flat.getGradient();
  }

  /** The accumulated gradient of one parameter, in its shape: a copy, the caller's. */
  public NDArray gradient(Param p) {
    List<Param> params = parameters();
    int i = 0;
    while (!params.get(i).name().equals(p.name())) {
      i++;
    }
    try (NDArray g = flatGradient()) {
      NDArray out =
          g.get(new NDIndex("{}:{}", offsets[i], offsets[i + 1])).reshape(p.value().getShape());
      return out.duplicate();
    }
  }

  /**
   * The adapted linears by "layer/module" for one forward pass. While it is recorded (a
   * forward_backward), views split off the flat buffer there and then, so that their gradients land
   * in the buffer's as one: one split and a view per tensor. Otherwise the standing views.
   */
  Map<String, Pair> forPass() {
    if (!JniUtils.isGradMode()) {
      return byLayerModule;
    }
    NDList parts = flat.split(Arrays.copyOfRange(offsets, 1, offsets.length - 1));
    return views(pairs.values(), parts, new Shape());
  }

  /**
   * The pairs of {@code layout} by "layer/module", from the parts of a flat buffer split in
   * parameter order, each in its own shape after the leading dimensions {@code lead}.
   */
  private static Map<String, Pair> views(Collection<Pair> layout, NDList parts, Shape lead) {
    Map<String, Pair> out = new HashMap<>();
    int i = 0;
    for (Pair p : layout) {
      NDArray a = parts.get(i++).reshape(lead.addAll(p.a().getShape())); // [lead, r, in]
      NDArray b = parts.get(i++).reshape(lead.addAll(p.b().getShape())); // [lead, out, r]
      NDArray m = p.magnitude() == null ? null : parts.get(i++); // [lead, out]
      out.put(p.layer() + "/" + p.module(), new Pair(p.path(), p.layer(), p.module(), a, b, m));
    }
    return out;
  }

  /**
   * Whether {@code other} lays its parameters out as this adapter does: the same modules, rank and
   * kind, so that their flat buffers line up element by element.
   */
  public boolean sameLayout(LoraAdapter other) {
    return spec.rank() == other.spec.rank()
        && spec.dora() == other.spec.dora()
        && Arrays.equals(offsets, other.offsets)
        && List.copyOf(pairs.keySet()).equals(List.copyOf(other.pairs.keySet()));
  }

  /**
   * The adapted linears of adapters of one layout ({@link #sameLayout}) for one forward pass, by
   * "layer/module", stacked: A [U, r, in], B [U, out, r] and DoRA's m [U, out], views of their flat
   * buffers stacked [U, P] and split once for all linears, all in {@code into}. While recorded, the
   * backward of that is one cat and one unbind into each adapter's flat gradient, however many
   * linears and adapters.
   */
  static Map<String, Pair> stackedPass(List<LoraAdapter> adapters, NDManager into) {
    LoraAdapter first = adapters.getFirst();
    long u = adapters.size();
    NDList flats = new NDList(adapters.stream().map(a -> a.flat).toList());
    NDArray all = NDArrays.stack(flats); // [U, P]
    all.attach(into);
    NDList parts = all.split(Arrays.copyOfRange(first.offsets, 1, first.offsets.length - 1), 1);
    Map<String, Pair> out = views(first.pairs.values(), parts, new Shape(u));
    NDList made = new NDList(all);
    made.addAll(parts);
    for (Pair p : out.values()) {
      made.add(p.a());
      made.add(p.b());
    }
    NDScope.unregister(made); // closed with {@code into}
    return out;
  }

  /** Where the B parameters lie in the flat buffer: [from, to) of each, for LoRA+'s rate. */
  public long[][] bRanges() {
    List<Param> params = parameters();
    List<long[]> out = new ArrayList<>(pairs.size());
    for (int i = 0; i < params.size(); i++) {
      if (params.get(i).isB()) {
        out.add(new long[] {offsets[i], offsets[i + 1]});
      }
    }
    return out.toArray(long[][]::new);
  }

  /** This adapter applied to every row of a batch, for one forward pass. */
  public LoraHook hook() {
    return new LoraHook() {
      private Map<String, Pair> pass; // taken at the first linear, in the pass's gradient mode

      @Override
      public NDArray apply(int layer, Module module, NDArray x, NDArray weight, NDArray y) {
        if (pass == null) {
          pass = forPass();
        }
        Pair p = pass.get(layer + "/" + module);
        if (p == null) {
          return y;
        }
        NDArray out = y.add(delta(p, x)); // x·(W + s·B·A)ᵀ [B, T, out]
        return p.magnitude() == null ? out : out.mul(doraScale(p, weight)); // · m/‖W+s·B·A‖ [out]
      }
    };
  }

  /** DoRA's m / ‖W + s·B·A‖ of each output row [out], for a pair with a magnitude and its W. */
  public NDArray doraScale(Pair p, NDArray weight) {
    NDArray one =
        doraScales( // as a stack of one
            p.a().expandDims(0), p.b().expandDims(0), weight, scale.reshape(1, 1), p.magnitude());
    return one.reshape(-1); // [out]
  }

  /**
   * DoRA's m / ‖W + s·B·A‖ per output row for a stack of U adapters' A [U, r, in] and B [U, out, r]
   * on one weight W [out, in], with their s [U, 1] and m [U, out] (or [out] for U = 1): [U, out].
   * The squared norm expands to ‖W_o‖² + 2s·⟨W_o, (B·A)_o⟩ + s²·‖(B·A)_o‖², with ⟨W_o, (B·A)_o⟩ =
   * Σ_k B_ok (A·Wᵀ)_ko and ‖(B·A)_o‖² = B_o (A·Aᵀ) B_oᵀ: products of [r, out] and [r, r], so that W
   * + s·B·A [out, in] is never formed; zero rows of A and columns of B (a stack's padding to its
   * largest rank) add nothing.
   */
  static NDArray doraScales(NDArray a, NDArray b, NDArray weight, NDArray s, NDArray m) {
    int[] last = {2};
    NDArray wa = a.matMul(weight.transpose()); // A·Wᵀ [U, r, out]
    NDArray cross = b.mul(wa.transpose(0, 2, 1)).sum(last); // ⟨W_o, (B·A)_o⟩ [U, out]
    NDArray gram = a.matMul(a.transpose(0, 2, 1)); // A·Aᵀ [U, r, r]
    NDArray own = b.matMul(gram).mul(b).sum(last); // ‖(B·A)_o‖² [U, out]
    // Tensors and clamp's plain bounds only: DJL wraps a Number operand in a Java buffer that
    // autograd would keep for the backward pass after it is freed (see Scalars).
    NDArray squared =
        weight.square().sum(new int[] {1}).add(cross.mul(s.add(s))).add(own.mul(s.square()));
    return m.div(squared.clip(Float.MIN_NORMAL, Float.MAX_VALUE).sqrt()); // [U, out]
  }

  /** The A and B this adapter has for the linear at {@code layer}/{@code module}, or null. */
  public Pair pair(int layer, Module module) {
    return byLayerModule.get(layer + "/" + module);
  }

  /**
   * This adapter's delta s·x·Aᵀ·Bᵀ [B, T, out] for the linear at {@code layer}/{@code module} with
   * input x [B, T, in], or null where it does not adapt that linear.
   */
  public NDArray delta(int layer, Module module, NDArray x) {
    Pair p = byLayerModule.get(layer + "/" + module);
    return p == null ? null : delta(p, x);
  }

  private NDArray delta(Pair p, NDArray x) {
    // x [B, T, in] · Aᵀ [in, r] · s · Bᵀ [r, out]: s scales the narrow [B, T, r], not the output
    return x.matMul(p.a().transpose()).mul(scale).matMul(p.b().transpose());
  }

  /** The rank of this adapter. */
  public int rank() {
    return spec.rank();
  }

  /**
   * A copy in host memory of everything a training run needs to continue: parameters, their
   * accumulated gradients, AdamW's moments and step.
   */
  public record Host(LoraSpec spec, int step, List<HostPair> pairs) {

    /** Bytes held. */
    public long bytes() {
      return pairs.stream().flatMap(p -> p.tensors().stream()).mapToLong(HostTensor::bytes).sum();
    }
  }

  /** One adapted linear in host memory; {@code magnitude} is null but for DoRA. */
  public record HostPair(
      String path, int layer, Module module, HostTensor a, HostTensor b, HostTensor magnitude) {

    List<HostTensor> tensors() {
      return magnitude == null ? List.of(a, b) : List.of(a, b, magnitude);
    }

    /** The pair's tensors under their PEFT names, in parameter order. */
    public Map<String, HostTensor> named() {
      Map<String, HostTensor> out = new LinkedHashMap<>();
      out.put(peftName(path, "A"), a);
      out.put(peftName(path, "B"), b);
      if (magnitude != null) {
        out.put(magnitudeName(path), magnitude);
      }
      return out;
    }
  }

  /** A parameter with its gradient and first and second moments, in float32. */
  public record HostTensor(long[] shape, float[] value, float[] grad, float[] m, float[] v) {

    long bytes() {
      return 4L * (value.length + grad.length + m.length + v.length);
    }
  }

  /** Copies this adapter to host memory; the adapter itself is left as it was. */
  public Host toHost() {
    float[] value = floats(flat);
    float[] grad;
    try (NDArray g = flatGradient()) {
      grad = floats(g);
    }
    NDArray[] mv = flatMoments();
    float[] m = floats(mv[0]);
    float[] v = floats(mv[1]);
    List<Param> params = parameters();
    List<HostPair> out = new ArrayList<>(pairs.size());
    int i = 0;
    for (Pair p : pairs.values()) {
      List<HostTensor> t = new ArrayList<>(3);
      for (int k = 0; k < p.tensors().size(); k++, i++) {
        int from = Math.toIntExact(offsets[i]);
        int to = Math.toIntExact(offsets[i + 1]);
        t.add(
            new HostTensor(
                params.get(i).value().getShape().getShape(),
                Arrays.copyOfRange(value, from, to),
                Arrays.copyOfRange(grad, from, to),
                Arrays.copyOfRange(m, from, to),
                Arrays.copyOfRange(v, from, to)));
      }
      out.add(
          new HostPair(
              p.path(), p.layer(), p.module(), t.get(0), t.get(1), t.size() > 2 ? t.get(2) : null));
    }
    return new Host(spec, step, out);
  }

  private static float[] floats(NDArray a) {
    return a.toType(DataType.FLOAT32, false).toFloatArray();
  }

  /** An adapter in {@code parent}'s device memory from a host copy. */
  public static LoraAdapter fromHost(Host host, NDManager parent, DataType dtype) {
    NDManager m = parent.newSubManager();
    Map<String, Pair> pairs = new LinkedHashMap<>();
    List<HostTensor> restore = new ArrayList<>(); // in parameter order
    for (HostPair h : host.pairs()) {
      NDArray a = device(m, h.a().value(), h.a().shape(), dtype);
      NDArray b = device(m, h.b().value(), h.b().shape(), dtype);
      NDArray mag =
          h.magnitude() == null
              ? null
              : device(m, h.magnitude().value(), h.magnitude().shape(), dtype);
      pairs.put(h.path(), new Pair(h.path(), h.layer(), h.module(), a, b, mag));
      restore.addAll(h.tensors());
    }
    LoraAdapter adapter = new LoraAdapter(host.spec(), m, pairs);
    Map<String, NDArray> grads = new LinkedHashMap<>();
    try (NDManager tmp = m.newSubManager()) {
      List<Param> params = adapter.parameters();
      for (int i = 0; i < params.size(); i++) {
        HostTensor t = restore.get(i);
        adapter.restoreMoments(params.get(i), t, tmp, dtype);
        grads.put(params.get(i).name(), device(tmp, t.grad(), t.shape(), dtype));
      }
      adapter.addGradients(grads);
    }
    adapter.setStep(host.step());
    return adapter;
  }

  private void restoreMoments(Param p, HostTensor t, NDManager tmp, DataType dtype) {
    NDArray[] mv = moments(p);
    mv[0].muli(0).addi(device(tmp, t.m(), t.shape(), dtype));
    mv[1].muli(0).addi(device(tmp, t.v(), t.shape(), dtype));
  }

  /**
   * Adds {@code grads} (by PEFT name; a missing one adds nothing) to the parameters' gradients.
   * PyTorch gives a leaf tensor a gradient only through backward, so this runs one: of sum(flat·g),
   * whose gradient is g.
   */
  public void addGradients(Map<String, NDArray> grads) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDList parts = new NDList();
      for (Param p : parameters()) {
        NDArray g = grads.get(p.name());
        parts.add(g == null ? p.value().zerosLike().reshape(-1) : g.reshape(-1));
      }
      NDArray g = NDArrays.concat(parts); // [P]
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        gc.backward(flat.mul(g).sum());
      }
    } finally {
      GradMode.off();
    }
  }

  private static NDArray device(NDManager m, float[] values, long[] shape, DataType dtype) {
    NDArray a = m.create(values, new Shape(shape)).toType(dtype, false);
    NDScope.unregister(a);
    return a;
  }

  /**
   * A copy of the parameters, moments and step, to be written while this adapter trains on: three
   * array copies on the calling thread (PeftAdapter writes them from their flat buffers).
   */
  public Frozen freeze(NDManager parent) {
    NDManager m = parent.newSubManager();
    NDArray[] mv = flatMoments();
    List<Frozen.Slot> layout = new ArrayList<>(pairs.size());
    for (Pair p : pairs.values()) {
      Shape mag = p.magnitude() == null ? null : p.magnitude().getShape();
      layout.add(
          new Frozen.Slot(
              p.path(), p.layer(), p.module(), p.a().getShape(), p.b().getShape(), mag));
    }
    // Copies belong to the adapter's manager as made: moved to the Frozen's own, so that closing it
    // frees them (and out of any scope, which would free them under the snapshot thread).
    NDArray[] copies = {flat.duplicate(), mv[0].duplicate(), mv[1].duplicate()};
    NDScope.unregister(copies);
    for (NDArray c : copies) {
      c.attach(m);
    }
    return new Frozen(spec, step, layout, m, copies[0], copies[1], copies[2]);
  }

  /** An adapter's state copied by {@link #freeze}; it owns {@code manager}. */
  public record Frozen(
      LoraSpec spec,
      int step,
      List<Slot> layout,
      NDManager manager,
      NDArray flat,
      NDArray m,
      NDArray v)
      implements AutoCloseable {

    /** Where a module's A and B (and DoRA's m, or null) sit, and their shapes. */
    public record Slot(String path, int layer, Module module, Shape a, Shape b, Shape magnitude) {}

    @Override
    public void close() {
      manager.close();
    }
  }

  /** Sets every accumulated gradient to zero: one operation, on the flat buffer's. */
  public void zeroGradients() {
    JniUtils.zeroGrad((PtNDArray) flat);
  }

  @Override
  public void close() {
    manager.close();
  }
}
