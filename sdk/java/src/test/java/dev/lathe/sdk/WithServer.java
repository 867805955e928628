package dev.lathe.sdk;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Tests against one all-in-one server from the built jar, started for the test class. */
abstract class WithServer {

  static LatheServer server;

  @BeforeAll
  static void start() throws Exception {
    server = new LatheServer();
  }

  @AfterAll
  static void stop() throws Exception {
    server.close();
  }
}
