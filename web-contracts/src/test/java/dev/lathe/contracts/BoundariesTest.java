package dev.lathe.contracts;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * web-contracts is the leaf of the reactor: wire types on Jackson and the JDK, nothing else of
 * ours, no Spring, no DJL.
 */
@AnalyzeClasses(
    packages = "dev.lathe.contracts",
    importOptions = ImportOption.DoNotIncludeTests.class)
class BoundariesTest {

  @ArchTest
  static final ArchRule onlyJacksonAndTheJdk =
      classes()
          .that()
          .resideInAPackage("dev.lathe.contracts..")
          .should()
          .onlyDependOnClassesThat()
          .resideInAnyPackage(
              "java..", "com.fasterxml.jackson..", "tools.jackson..", "dev.lathe.contracts..");
}
