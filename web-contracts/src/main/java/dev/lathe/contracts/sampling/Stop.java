package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.ArrayList;
import java.util.List;

/**
 * When to stop sampling, as the SDK sends it: one string, a list of strings, or a list of token ids
 * (a single stop token sequence). The wire form is kept so that it serialises back unchanged.
 */
public sealed interface Stop {

  /** Stop at this text. */
  record Text(String text) implements Stop {
    @JsonValue
    public String value() {
      return text;
    }
  }

  /** Stop at any of these texts. */
  record Texts(List<String> texts) implements Stop {
    @JsonValue
    public List<String> value() {
      return texts;
    }
  }

  /** Stop at any of these tokens. */
  record Tokens(List<Integer> tokens) implements Stop {
    @JsonValue
    public List<Integer> value() {
      return tokens;
    }
  }

  /**
   * Reads the wire form.
   *
   * @throws IllegalArgumentException for anything but a string or a list of strings or of ints
   */
  @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
  static Stop of(Object wire) {
    if (wire instanceof String s) {
      return new Text(s);
    }
    if (wire instanceof List<?> list) {
      if (list.stream().allMatch(String.class::isInstance)) {
        return new Texts(list.stream().map(String.class::cast).toList());
      }
      List<Integer> tokens = new ArrayList<>(list.size());
      for (Object o : list) {
        if (!(o instanceof Integer i)) {
          throw new IllegalArgumentException(
              "stop must be a string, a list of strings or a list of token ids");
        }
        tokens.add(i);
      }
      return new Tokens(List.copyOf(tokens));
    }
    throw new IllegalArgumentException(
        "stop must be a string, a list of strings or a list of token ids");
  }
}
