package dev.lathe.api.auth;

/** The authenticated tenant of a request. */
public record Caller(String tenantId, String tenantName) {

  static final String ATTRIBUTE = Caller.class.getName();
}
