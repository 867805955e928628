package dev.lathe.api.future;

/** Told when a request is queued, so that an in-process worker can start at once. */
public interface QueueListener {

  void queued();
}
