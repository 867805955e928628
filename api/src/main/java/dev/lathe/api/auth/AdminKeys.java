package dev.lathe.api.auth;

import org.springframework.stereotype.Service;

/** The operators' keys. */
@Service
public class AdminKeys {

  private final KeyStore keys;

  AdminKeys(KeyStore keys) {
    this.keys = keys;
  }

  /**
   * Makes sure an admin key exists: the configured one, or a new one when none exists yet.
   *
   * @return a newly generated key to print once, or null
   */
  public String ensure(String configured) {
    if (configured != null && !configured.isBlank()) {
      keys.addAdminKey(configured.strip(), "configured");
      return null;
    }
    if (keys.adminKeys() > 0) {
      return null;
    }
    String key = Keys.newAdminKey();
    keys.addAdminKey(key, "generated at first start");
    return key;
  }
}
