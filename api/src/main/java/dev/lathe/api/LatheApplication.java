package dev.lathe.api;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** Lathe's entry point: {@code java -jar lathe.jar} starts the all-in-one service. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class LatheApplication {

  public static void main(String[] args) {
    System.setProperty("ai.djl.offline", "true");
    SpringApplication.run(LatheApplication.class, args);
  }
}
