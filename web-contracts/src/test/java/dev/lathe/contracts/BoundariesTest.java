package dev.lathe.contracts;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * web-contracts is the leaf of the reactor: wire types on Jackson and the JDK, nothing else of
 * ours, no Spring, no DJL. Protobuf only in the proto codec (the library is an optional dependency,
 * so the JSON records must not need it).
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
          .and()
          .resideOutsideOfPackage("dev.lathe.contracts.proto..")
          .should()
          .onlyDependOnClassesThat()
          .resideInAnyPackage(
              "java..", "com.fasterxml.jackson..", "tools.jackson..", "dev.lathe.contracts..");

  @ArchTest
  static final ArchRule theRecordsDoNotNeedTheCodec =
      noClasses()
          .that()
          .resideOutsideOfPackage("dev.lathe.contracts.proto..")
          .should()
          .dependOnClassesThat()
          .resideInAPackage("dev.lathe.contracts.proto..");

  @ArchTest
  static final ArchRule theCodecAddsOnlyProtobuf =
      classes()
          .that()
          .resideInAPackage("dev.lathe.contracts.proto..")
          .should()
          .onlyDependOnClassesThat()
          .resideInAnyPackage(
              "java..",
              "com.google.protobuf..",
              "com.fasterxml.jackson..",
              "tools.jackson..",
              "dev.lathe.contracts..");
}
