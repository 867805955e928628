package dev.lathe.api.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * API keys: a prefix and 256 random bits. Tenant keys start with {@code tml-} (the Tinker SDK
 * refuses any other), admin keys with {@code lta-}. Only a SHA-256 of a key is stored, with its
 * first characters for display.
 */
public final class Keys {

  public static final String TENANT_PREFIX = "tml-";
  public static final String ADMIN_PREFIX = "lta-";
  private static final int DISPLAY = 12;
  private static final SecureRandom RANDOM = new SecureRandom();

  private Keys() {}

  public static String newTenantKey() {
    return TENANT_PREFIX + random();
  }

  public static String newAdminKey() {
    return ADMIN_PREFIX + random();
  }

  private static String random() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  public static byte[] hash(String key) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** What lists show of a key. */
  public static String displayPrefix(String key) {
    return key.substring(0, Math.min(DISPLAY, key.length()));
  }
}
