package dev.lathe.api.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.testing.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Archive download links: valid until they expire, on every api replica of one database, and
 * nothing else verifies: not a changed target or expiry, not a changed signature, not another
 * deployment's link.
 */
class LinkSignerTest {

  private final JdbcClient db = JdbcClient.create(TestDatabase.migratedDatabase());
  private final LinkSigner signer = new LinkSigner(db);
  private final LinkSigner.Target target =
      new LinkSigner.Target(
          "run-1",
          "weights",
          "final",
          Instant.now().plusSeconds(60).truncatedTo(ChronoUnit.SECONDS));

  @Test
  void aSignedLinkVerifiesOnEveryReplicaUntilItExpires() {
    String token = signer.sign(target);
    assertThat(signer.verify(token)).contains(target);
    assertThat(new LinkSigner(db).verify(token)).as("another replica").contains(target);

    LinkSigner.Target past =
        new LinkSigner.Target("run-1", "weights", "final", Instant.now().minusSeconds(1));
    assertThat(signer.verify(signer.sign(past))).as("expired").isEmpty();
  }

  @Test
  void aForgedLinkDoesNotVerify() {
    String token = signer.sign(target);
    String mac = token.substring(token.indexOf('.') + 1);
    // The same signature on another target, and on a later expiry.
    assertThat(signer.verify(payload("run-2\nweights\nfinal\n" + epoch(target)) + "." + mac))
        .isEmpty();
    assertThat(
            signer.verify(
                payload("run-1\nweights\nfinal\n" + (epoch(target) + 86_400)) + "." + mac))
        .isEmpty();
    // A changed signature, none, garbage, and a fifth field.
    char last = token.charAt(token.length() - 1);
    assertThat(signer.verify(token.substring(0, token.length() - 1) + (last == 'A' ? 'B' : 'A')))
        .isEmpty();
    assertThat(signer.verify(token.substring(0, token.indexOf('.')))).isEmpty();
    assertThat(signer.verify("not a token")).isEmpty();
    assertThat(signer.verify("%%%.%%%")).isEmpty();
    assertThat(signer.verify(payload("run-1\nweights\nfinal\n" + epoch(target) + "\nx") + "."))
        .isEmpty();
    // A link to the checkpoint's PEFT files does not reach its merged export, nor the reverse.
    assertThat(
            signer.verify(
                payload("run-1\nweights\nfinal\n" + epoch(target) + "\nmerged") + "." + mac))
        .isEmpty();
    LinkSigner.Target merged =
        new LinkSigner.Target("run-1", "weights", "final", target.expires(), true);
    String mergedToken = signer.sign(merged);
    assertThat(signer.verify(mergedToken)).contains(merged);
    assertThat(
            signer.verify(
                payload("run-1\nweights\nfinal\n" + epoch(target))
                    + mergedToken.substring(mergedToken.indexOf('.'))))
        .isEmpty();
    // Another deployment (its own database, its own secret).
    LinkSigner other = new LinkSigner(JdbcClient.create(TestDatabase.migratedDatabase()));
    assertThat(other.verify(token)).isEmpty();
  }

  private static long epoch(LinkSigner.Target t) {
    return t.expires().getEpochSecond();
  }

  private static String payload(String s) {
    return Base64.getUrlEncoder()
        .withoutPadding()
        .encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }
}
