package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;

/**
 * Adds LoRA deltas to the frozen model's linear outputs. The model calls it after every adaptable
 * linear, and adds the linear's bias after; an implementation may apply one adapter to the whole
 * batch or a different adapter to each segment of rows.
 */
@FunctionalInterface
public interface LoraHook {

  /** No adapter: the base model. */
  LoraHook NONE = (layer, module, x, weight, y) -> y;

  /**
   * @param layer decoder layer index (-1 for {@link Module#LM_HEAD})
   * @param x the linear's input [B, T, in]
   * @param weight the frozen weight W [out, in]
   * @param y the frozen output x·Wᵀ [B, T, out], before any bias
   * @return y plus the adapter's delta (for DoRA: both scaled per output) [B, T, out]
   */
  NDArray apply(int layer, Module module, NDArray x, NDArray weight, NDArray y);
}
