package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;

/** A tenant's limits; a null field means no limit. */
@Wire
public record Quotas(Integer maxAdapters, Long maxStorageBytes, Integer maxTokensPerMinute) {

  public static Quotas unlimited() {
    return new Quotas(null, null, null);
  }
}
