package dev.lathe.worker.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW on adapters' accumulated gradients, with Tinker's {@code adam_params}: bias-corrected
 * moments, decoupled weight decay (p ← p·(1 − lr·wd), as PyTorch's AdamW), optional clipping of the
 * global gradient norm, and LoRA+'s larger learning rate for B. Gradients are zeroed after.
 *
 * <p>Every adapter that steps in a clock cycle steps in one call, whatever their hyper-parameters:
 * PyTorch's multi-tensor kernels ({@code _foreach_norm}, {@code _fused_adamw_}) through a
 * TorchScript program (src/main/python/make_fused_adamw.py), one pass over each buffer. A step
 * written with single-tensor operations costs a dozen passes and a dozen operations per adapter; on
 * a GPU, kernel launches per tenant per cycle.
 */
public final class AdamW {

  /** Hyper-parameters of one step. */
  public record Params(
      double learningRate,
      double beta1,
      double beta2,
      double eps,
      double weightDecay,
      double gradClipNorm) {}

  /** What a step did: the global gradient norm before clipping, and the learning rate. */
  public record Result(double gradNorm, double learningRate, int step) {}

  private AdamW() {}

  /** One step of one adapter. */
  public static Result step(LoraAdapter adapter, Params p) {
    return step(List.of(adapter), List.of(p)).getFirst();
  }

  /** One step of each adapter with its own hyper-parameters, in one fused update. */
  public static List<Result> step(List<LoraAdapter> adapters, List<Params> params) {
    if (adapters.isEmpty()) {
      return List.of();
    }
    GradMode.off(); // the update writes into the parameters in place
    List<IValue> made = new ArrayList<>();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      PtNDArray[] flatGrads = new PtNDArray[adapters.size()];
      double[] maxNorms = new double[adapters.size()];
      Map<Key, Group> groups = new LinkedHashMap<>();
      for (int i = 0; i < adapters.size(); i++) {
        LoraAdapter a = adapters.get(i);
        Params p = params.get(i);
        flatGrads[i] = (PtNDArray) a.flatGradient(); // [P]
        maxNorms[i] = Math.max(0, p.gradClipNorm());
        NDArray[] mv = a.flatMoments(); // [P] each
        NDArray[] buffers = {a.flatParameters(), flatGrads[i], mv[0], mv[1]};
        double ratio = a.spec().loraPlusRatio();
        for (long[] run : runs(a.bRanges(), a.flatParameters().size(), ratio != 1.0)) {
          double lr = p.learningRate() * (run[2] == 1 ? ratio : 1.0);
          Key key =
              new Key(
                  a.flatParameters().getDataType(),
                  List.of(lr, p.beta1(), p.beta2(), p.weightDecay(), p.eps()));
          Group g = groups.computeIfAbsent(key, k -> new Group());
          for (int k = 0; k < 4; k++) {
            NDArray whole = buffers[k];
            g.tensors.get(k).add(whole.size() == run[1] - run[0] ? whole : slice(whole, run));
          }
          g.steps.add((double) a.step() + 1);
        }
      }
      List<Group> gs = List.copyOf(groups.values());
      IValue[] in = {
        add(made, IValue.listFrom(flatGrads)),
        add(made, IValue.listFrom(maxNorms)),
        tensorLists(made, gs, 0), // parameters
        tensorLists(made, gs, 1), // gradients
        tensorLists(made, gs, 2), // m
        tensorLists(made, gs, 3), // v
        doubleLists(made, gs.stream().map(g -> unbox(g.steps)).toList()),
        doubleLists(made, groups.keySet().stream().map(k -> unbox(k.hyper())).toList())
      };
      JniUtils.setGraphExecutorOptimize(false); // a dozen operations: nothing to optimize
      IValue out = add(made, Script.MODULE.forward(in));
      double[] norms;
      try (NDArray n = out.toTensor((PtNDManager) adapters.getFirst().manager())) {
        norms = n.toType(DataType.FLOAT64, false).toDoubleArray(); // the step's one read
      }
      List<Result> results = new ArrayList<>(adapters.size());
      for (int i = 0; i < adapters.size(); i++) {
        LoraAdapter a = adapters.get(i);
        a.setStep(a.step() + 1);
        results.add(new Result(norms[i], params.get(i).learningRate(), a.step()));
      }
      return results;
    } finally {
      made.forEach(IValue::close);
    }
  }

  /**
   * What tensors updated in one list share: a type (the fused kernel's lists are of one) and [lr,
   * beta1, beta2, weight_decay, eps].
   */
  private record Key(DataType dtype, List<Double> hyper) {}

  /** Tensors that share hyper-parameters: parameters, gradients, m, v; each tensor's step. */
  private static final class Group {
    final List<List<NDArray>> tensors =
        List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    final List<Double> steps = new ArrayList<>();
  }

  /**
   * The flat buffer [0, size) in runs {from, to, isB}: one run when B's rate is A's, else the B
   * ranges and the runs between them (LoRA+).
   */
  private static List<long[]> runs(long[][] bRanges, long size, boolean split) {
    if (!split) {
      return List.of(new long[] {0, size, 0});
    }
    List<long[]> out = new ArrayList<>();
    long at = 0;
    for (long[] b : bRanges) {
      if (b[0] > at) {
        out.add(new long[] {at, b[0], 0});
      }
      out.add(new long[] {b[0], b[1], 1});
      at = b[1];
    }
    if (at < size) {
      out.add(new long[] {at, size, 0});
    }
    return out;
  }

  private static NDArray slice(NDArray flat, long[] run) {
    return flat.get(new NDIndex("{}:{}", run[0], run[1])); // a view: updated in place
  }

  /** The {@code kind}-th tensors of each group, a list of lists (List[List[Tensor]]). */
  private static IValue tensorLists(List<IValue> made, List<Group> groups, int kind) {
    IValue[] inner = new IValue[groups.size()];
    for (int g = 0; g < inner.length; g++) {
      List<NDArray> tensors = groups.get(g).tensors.get(kind);
      inner[g] = add(made, IValue.listFrom(tensors.toArray(PtNDArray[]::new)));
    }
    return add(made, IValue.listFrom(inner));
  }

  /** A list of lists of floats (List[List[float]]). */
  private static IValue doubleLists(List<IValue> made, List<double[]> values) {
    IValue[] inner = new IValue[values.size()];
    for (int i = 0; i < inner.length; i++) {
      inner[i] = add(made, IValue.listFrom(values.get(i)));
    }
    return add(made, IValue.listFrom(inner));
  }

  private static double[] unbox(List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static IValue add(List<IValue> made, IValue v) {
    made.add(v);
    return v;
  }

  /** The TorchScript program, loaded once: it holds no tensors, so it serves every device. */
  private static final class Script {
    static final PtNDManager MANAGER = (PtNDManager) NDManager.newBaseManager();
    static final PtSymbolBlock MODULE = load();

    private static PtSymbolBlock load() {
      try (InputStream in = AdamW.class.getResourceAsStream("fused_adamw.pt")) {
        if (in == null) {
          throw new IllegalStateException("fused_adamw.pt is missing from the classpath");
        }
        return JniUtils.loadModule(MANAGER, in, false, false);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
