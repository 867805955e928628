package dev.lathe.contracts.proto;

/** A protobuf body that does not describe a valid request: the field at fault and why. */
public final class ProtoException extends IllegalArgumentException {

  private final String field;

  ProtoException(String field, String message) {
    super(field == null ? message : field + ": " + message);
    this.field = field;
  }

  /** The request field at fault, in the JSON protocol's spelling, or null for the whole body. */
  public String field() {
    return field;
  }
}
