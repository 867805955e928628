package dev.lathe.worker.lora;

import dev.lathe.worker.model.llama.Module;
import java.util.EnumSet;
import java.util.Set;

/**
 * How an adapter is shaped and scaled: rank r, alpha (scaling α/r, or α/√r with rsLoRA), the seed
 * of A's initialisation, the modules it adapts, LoRA+'s learning-rate ratio for B (1 = plain LoRA),
 * and whether it is DoRA (a trained magnitude per output row times the direction W + s·B·A).
 */
public record LoraSpec(
    int rank,
    double alpha,
    long seed,
    Set<Module> targets,
    boolean rslora,
    double loraPlusRatio,
    boolean dora) {

  public static final double DEFAULT_ALPHA = 32;

  public LoraSpec {
    if (rank <= 0) {
      throw new IllegalArgumentException("rank must be positive, got " + rank);
    }
    if (!(alpha > 0) || Double.isInfinite(alpha)) {
      throw new IllegalArgumentException("alpha must be a positive number, got " + alpha);
    }
    if (!(loraPlusRatio > 0) || Double.isInfinite(loraPlusRatio)) {
      throw new IllegalArgumentException("lora_plus_ratio must be positive, got " + loraPlusRatio);
    }
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("an adapter must train at least one module");
    }
    targets = Set.copyOf(targets);
  }

  /** Tinker's defaults for a rank: α = 32, every module, no rsLoRA, no LoRA+. */
  public static LoraSpec of(int rank, long seed) {
    return new LoraSpec(rank, DEFAULT_ALPHA, seed, EnumSet.allOf(Module.class), false, 1.0, false);
  }

  /** This spec with DoRA on or off. */
  public LoraSpec withDora(boolean on) {
    return new LoraSpec(rank, alpha, seed, targets, rslora, loraPlusRatio, on);
  }

  /** The modules Tinker's {@code train_attn}, {@code train_mlp}, {@code train_unembed} select. */
  public static Set<Module> targets(boolean attn, boolean mlp, boolean unembed) {
    Set<Module> out = EnumSet.noneOf(Module.class);
    for (Module m : Module.values()) {
      boolean on =
          switch (m.group()) {
            case ATTENTION -> attn;
            case MLP -> mlp;
            case UNEMBED -> unembed;
          };
      if (on) {
        out.add(m);
      }
    }
    return out;
  }

  public double scaling() {
    return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
  }

  public boolean adapts(Module m) {
    return targets.contains(m);
  }

  public boolean adaptsAny(Module.Group group) {
    return targets.stream().anyMatch(m -> m.group() == group);
  }
}
