package dev.lathe.contracts.checkpoint;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A checkpoint's address, {@code tinker://<training_run_id>/<kind>/<name>} with kind {@code
 * weights} or {@code sampler_weights}; names are 1-128 letters, digits, '.', '_' or '-'.
 */
public record TinkerPath(String trainingRunId, String kind, String name) {

  public static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");
  private static final Pattern PATH =
      Pattern.compile("tinker://([^/]{1,200})/(weights|sampler_weights)/([A-Za-z0-9._-]{1,128})");

  /**
   * @throws IllegalArgumentException if the text is not such an address
   */
  public static TinkerPath parse(String text) {
    Matcher m = text == null ? null : PATH.matcher(text);
    if (m == null || !m.matches()) {
      throw new IllegalArgumentException(
          "must look like tinker://<model_id>/weights/<name> or .../sampler_weights/<name>");
    }
    return new TinkerPath(m.group(1), m.group(2), m.group(3));
  }

  @Override
  public String toString() {
    return "tinker://" + trainingRunId + "/" + kind + "/" + name;
  }
}
