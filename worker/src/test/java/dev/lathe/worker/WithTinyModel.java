package dev.lathe.worker;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.model.BaseModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Tests on lathe-tiny in float32: the model is loaded once per test class. */
public abstract class WithTinyModel {

  protected static NDManager manager;
  protected static BaseModel base;

  @BeforeAll
  static void loadTinyModel() {
    manager = NDManager.newBaseManager();
    base = TinyModel.load(manager, DataType.FLOAT32);
  }

  @AfterAll
  static void closeTinyModel() {
    base.close();
    manager.close();
  }
}
