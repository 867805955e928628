package dev.lathe.api.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.validation.annotation.Validated;

/**
 * Lathe's settings ({@code lathe.*}, bound from the {@code LATHE_*} environment variables in
 * application.yml), validated at start-up.
 *
 * @param dataDir where all-in-one mode keeps its database and adapter files
 * @param db the external PostgreSQL; when its url is blank an embedded one runs under dataDir
 */
@Validated
@ConfigurationProperties("lathe")
public record LatheProperties(@NotNull Path dataDir, @Valid @NotNull Db db) {

  /** Connection to an external PostgreSQL. */
  public record Db(String url, String user, String password) {

    public boolean external() {
      return url != null && !url.isBlank();
    }
  }
}
