package dev.lathe.api;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** The api speaks HTTP, JSON and SQL; tensors stay in the worker. */
@AnalyzeClasses(packages = "dev.lathe.api", importOptions = ImportOption.DoNotIncludeTests.class)
class BoundariesTest {

  @ArchTest
  static final ArchRule neverImportsDjl =
      noClasses()
          .that()
          .resideInAPackage("dev.lathe.api..")
          .should()
          .dependOnClassesThat()
          .resideInAPackage("ai.djl..");
}
