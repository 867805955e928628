package dev.lathe.api.web;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import tools.jackson.core.JsonParser;
import tools.jackson.databind.DeserializationContext;
import tools.jackson.databind.JacksonModule;
import tools.jackson.databind.deser.jdk.StringDeserializer;
import tools.jackson.databind.module.SimpleModule;

/**
 * Refuses JSON strings holding U+0000, which PostgreSQL cannot store in text or jsonb: a 400 naming
 * the field (Jackson's path, {@link ProblemHandler}) where it would otherwise fail in SQL. Also the
 * strings of untyped values (user_metadata), which Jackson reads with the String deserializer.
 */
@Configuration(proxyBeanMethods = false)
class NoNulStrings {

  @Bean
  JacksonModule noNulStringsModule() {
    return new SimpleModule("lathe-no-nul-strings").addDeserializer(String.class, new Checked());
  }

  static final class Checked extends StringDeserializer {
    @Override
    public String deserialize(JsonParser p, DeserializationContext ctxt) {
      String s = super.deserialize(p, ctxt);
      if (s != null && s.indexOf('\0') >= 0) {
        return (String)
            ctxt.handleWeirdStringValue(
                String.class, s, "must not contain U+0000 (the NUL character)");
      }
      return s;
    }
  }
}
