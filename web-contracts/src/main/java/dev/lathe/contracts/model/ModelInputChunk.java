package dev.lathe.contracts.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.lathe.contracts.Wire;

/**
 * One chunk of a {@link ModelInput}, tagged by {@code type}. Image and audio chunks are parsed so
 * that the api can refuse them with a clear message rather than a parse error.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
  @JsonSubTypes.Type(value = ModelInputChunk.EncodedText.class, name = "encoded_text"),
  @JsonSubTypes.Type(value = ModelInputChunk.Image.class, name = "image"),
  @JsonSubTypes.Type(value = ModelInputChunk.ImageAssetPointer.class, name = "image_asset_pointer"),
  @JsonSubTypes.Type(value = ModelInputChunk.Dmel.class, name = "dmel"),
})
public sealed interface ModelInputChunk {

  /** The {@code type} tag on the wire. */
  @JsonIgnore
  String type();

  /** Positions this chunk takes in the context. */
  int length();

  /** Token ids of text. */
  @Wire
  record EncodedText(int[] tokens) implements ModelInputChunk {
    public EncodedText {
      tokens = tokens == null ? new int[0] : tokens;
    }

    @Override
    public String type() {
      return "encoded_text";
    }

    @Override
    public int length() {
      return tokens.length;
    }
  }

  /** An inline image (base64); not supported by Lathe's text models. */
  @Wire
  record Image(String data, String format, Integer expectedTokens) implements ModelInputChunk {
    @Override
    public String type() {
      return "image";
    }

    @Override
    public int length() {
      return expectedTokens == null ? 0 : expectedTokens;
    }
  }

  /** An image by reference; not supported by Lathe's text models. */
  @Wire
  record ImageAssetPointer(String format, String location, Integer expectedTokens)
      implements ModelInputChunk {
    @Override
    public String type() {
      return "image_asset_pointer";
    }

    @Override
    public int length() {
      return expectedTokens == null ? 0 : expectedTokens;
    }
  }

  /** Audio features (base64 tensor container); not supported by Lathe's text models. */
  @Wire
  record Dmel(String dmel) implements ModelInputChunk {
    @Override
    public String type() {
      return "dmel";
    }

    @Override
    public int length() {
      return 0;
    }
  }
}
