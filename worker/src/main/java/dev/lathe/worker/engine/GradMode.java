package dev.lathe.worker.engine;

import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch records autograd graphs per thread, and every new thread starts recording. Engine entry
 * points switch recording off first: only a GradientCollector turns it on, for its backward pass.
 */
public final class GradMode {

  private GradMode() {}

  public static void off() {
    JniUtils.setGradMode(false);
  }
}
