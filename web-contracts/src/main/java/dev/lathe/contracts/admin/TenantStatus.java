package dev.lathe.contracts.admin;

import com.fasterxml.jackson.annotation.JsonProperty;

/** A suspended tenant's keys are refused; its data stays. */
public enum TenantStatus {
  @JsonProperty("active")
  ACTIVE,
  @JsonProperty("suspended")
  SUSPENDED
}
