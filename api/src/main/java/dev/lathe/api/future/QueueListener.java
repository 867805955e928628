package dev.lathe.api.future;

/** Told when a request is queued, so that an in-process worker can start at once. */
public interface QueueListener {

  /**
   * @param modelId the training run the request is of; null for one of none (sampling)
   */
  void queued(String modelId);
}
