package dev.lathe.api.checkpoint;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.Base64;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * Signs time-limited download links (HMAC-SHA256 with a secret all api replicas share through
 * PostgreSQL), so that an archive can be fetched without an API key until the link expires.
 */
@Component
class LinkSigner {

  private static final String MERGED = "merged";

  private final byte[] secret;

  LinkSigner(JdbcClient jdbc) {
    byte[] fresh = new byte[32];
    new SecureRandom().nextBytes(fresh);
    jdbc.sql(
            "INSERT INTO server_secrets (name, value) VALUES ('download-links', ?) ON CONFLICT DO NOTHING")
        .param(fresh)
        .update();
    this.secret =
        jdbc.sql("SELECT value FROM server_secrets WHERE name = 'download-links'")
            .query(byte[].class)
            .single();
  }

  /** What a link points at: a checkpoint's PEFT files, or its merged export. */
  record Target(String runId, String kind, String name, Instant expires, boolean merged) {

    Target(String runId, String kind, String name, Instant expires) {
      this(runId, kind, name, expires, false);
    }
  }

  String sign(Target t) {
    String payload =
        t.runId()
            + "\n"
            + t.kind()
            + "\n"
            + t.name()
            + "\n"
            + t.expires().getEpochSecond()
            + (t.merged() ? "\n" + MERGED : "");
    Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
    return b64.encodeToString(payload.getBytes(StandardCharsets.UTF_8))
        + "."
        + b64.encodeToString(mac(payload));
  }

  /** The target of a valid, unexpired token. */
  Optional<Target> verify(String token) {
    int dot = token.indexOf('.');
    if (dot < 0) {
      return Optional.empty();
    }
    try {
      Base64.Decoder b64 = Base64.getUrlDecoder();
      String payload = new String(b64.decode(token.substring(0, dot)), StandardCharsets.UTF_8);
      if (!MessageDigest.isEqual(mac(payload), b64.decode(token.substring(dot + 1)))) {
        return Optional.empty();
      }
      String[] p = payload.split("\n");
      Instant expires = Instant.ofEpochSecond(Long.parseLong(p[3]));
      boolean merged = p.length == 5 && p[4].equals(MERGED);
      return (p.length == 4 || merged) && expires.isAfter(Instant.now())
          ? Optional.of(new Target(p[0], p[1], p[2], expires, merged))
          : Optional.empty();
    } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
      return Optional.empty();
    }
  }

  private byte[] mac(String payload) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      return mac.doFinal(payload.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
