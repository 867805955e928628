package dev.lathe.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;

/** How many Flyway migrations the db module ships. */
final class Migrations {

  private Migrations() {}

  static int count() {
    try {
      return new PathMatchingResourcePatternResolver()
          .getResources("classpath*:db/migration/V*__*.sql")
          .length;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
