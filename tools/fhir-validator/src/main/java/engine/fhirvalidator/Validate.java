package engine.fhirvalidator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.CodeSystem;
import org.hl7.fhir.r4.model.StructureDefinition;
import org.hl7.fhir.r4.model.ValueSet;

/**
 * The HL7 FHIR R4 instance validator (HAPI FhirInstanceValidator, which runs org.hl7.fhir.validation's
 * InstanceValidator) offline: the R4 core definitions (hl7.fhir.r4.core 4.0.1) come from
 * hapi-fhir-validation-resources-r4 on the classpath, the engine's own StructureDefinitions from --definitions.
 *
 * Usage: Validate [--definitions DIR] DIR|FILE...
 * Every *.json file is one resource or a JSON array of resources. Prints each resource's errors and warnings and a
 * summary; exits 1 when any resource has an error, 2 on bad usage. Codes from code systems the validator does not
 * know (Norwegian KITH/Volven, Ukrainian eHealth) are warnings; a code outside a required binding to a core value
 * set is an error.
 */
public final class Validate {
  private Validate() {}

  public static void main(String[] args) throws IOException {
    List<Path> inputs = new ArrayList<>();
    Path definitions = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--definitions") && i + 1 < args.length) definitions = Path.of(args[++i]);
      else inputs.add(Path.of(args[i]));
    }
    if (inputs.isEmpty()) {
      System.err.println("usage: Validate [--definitions DIR] DIR|FILE...");
      System.exit(2);
    }
    long started = System.nanoTime();
    FhirContext ctx = FhirContext.forR4Cached();
    IParser parser = ctx.newJsonParser();

    PrePopulatedValidationSupport own = new PrePopulatedValidationSupport(ctx);
    int ownCount = 0;
    if (definitions != null) {
      for (Path f : jsonFiles(List.of(definitions))) {
        IBaseResource r = parser.parseResource(Files.readString(f, StandardCharsets.UTF_8));
        if (r instanceof StructureDefinition sd) own.addStructureDefinition(sd);
        else if (r instanceof ValueSet vs) own.addValueSet(vs);
        else if (r instanceof CodeSystem cs) own.addCodeSystem(cs);
        else continue;
        ownCount++;
      }
    }
    UnknownCodeSystemWarningValidationSupport unknownSystems = new UnknownCodeSystemWarningValidationSupport(ctx);
    unknownSystems.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
    ValidationSupportChain chain = new ValidationSupportChain(
        new DefaultProfileValidationSupport(ctx),
        own,
        new CommonCodeSystemsTerminologyService(ctx),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx),
        unknownSystems);
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    module.setAnyExtensionsAllowed(false);
    module.setNoTerminologyChecks(false);
    FhirValidator validator = ctx.newValidator();
    validator.registerValidatorModule(module);

    int resources = 0, invalid = 0, errors = 0, warnings = 0;
    for (Path f : jsonFiles(inputs)) {
      String text = Files.readString(f, StandardCharsets.UTF_8).trim();
      List<String> items = new ArrayList<>();
      if (text.startsWith("[")) {
        for (var node : new com.fasterxml.jackson.databind.ObjectMapper().readTree(text)) items.add(node.toString());
      } else {
        items.add(text);
      }
      for (int i = 0; i < items.size(); i++) {
        resources++;
        ValidationResult result = validator.validateWithResult(items.get(i));
        String label = f.getFileName() + (items.size() > 1 ? "#" + i : "") + " " + describe(items.get(i));
        boolean bad = false;
        for (SingleValidationMessage m : result.getMessages()) {
          ResultSeverityEnum s = severity(m);
          if (s == ResultSeverityEnum.ERROR || s == ResultSeverityEnum.FATAL) {
            errors++;
            bad = true;
          } else if (s == ResultSeverityEnum.WARNING) {
            warnings++;
          } else {
            continue;
          }
          System.out.printf(Locale.ROOT, "%s %s %s: %s%n", s.getCode().toUpperCase(Locale.ROOT), label, m.getLocationString(), m.getMessage());
        }
        if (bad) invalid++;
      }
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    System.out.printf(Locale.ROOT, "fhir-validator: %d resources, %d invalid, %d errors, %d warnings (%d own definitions, %.1f s)%n",
        resources, invalid, errors, warnings, ownCount, seconds);
    System.exit(invalid > 0 ? 1 : 0);
  }

  private static final java.util.regex.Pattern LANGUAGE_NOT_IN_COMMON =
      java.util.regex.Pattern.compile("^Code \"([a-z]{2,3}(-[A-Za-z0-9]{2,8})*)\" is not in valueset: http://hl7\\.org/fhir/ValueSet/languages.*", java.util.regex.Pattern.DOTALL);

  /**
   * The validator's severity, except for one binding: R4 binds language elements (e.g. designation.language) to
   * the Common Languages value set as *preferred*, limited only to all of BCP 47; a well-formed BCP 47 tag outside the
   * common list (nb, nn, uk) is valid R4, so it is a warning here, not an error.
   */
  private static ResultSeverityEnum severity(SingleValidationMessage m) {
    ResultSeverityEnum s = m.getSeverity();
    // Validating a StructureDefinition *instance* makes the validator regenerate its snapshot inside a package
    // context, which an offline run without the package cache does not have. The same definitions are used, with
    // snapshots generated, to validate every resource that carries the extensions, so their content is checked there.
    if (s == ResultSeverityEnum.ERROR && m.getMessage() != null
        && m.getMessage().startsWith("Error generating Snapshot: Unable to resolve package id hl7.fhir.r4.core#null")) {
      return ResultSeverityEnum.WARNING;
    }
    if ((s == ResultSeverityEnum.ERROR) && m.getMessage() != null && LANGUAGE_NOT_IN_COMMON.matcher(m.getMessage()).matches()
        && m.getLocationString() != null && m.getLocationString().endsWith(".language")) {
      return ResultSeverityEnum.WARNING;
    }
    return s;
  }

  private static String describe(String json) {
    try {
      var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
      return node.path("resourceType").asText("?") + "/" + node.path("id").asText("");
    } catch (IOException e) {
      return "(unreadable JSON)";
    }
  }

  private static List<Path> jsonFiles(List<Path> inputs) throws IOException {
    List<Path> out = new ArrayList<>();
    for (Path p : inputs) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.walk(p)) {
          s.filter(x -> Files.isRegularFile(x) && x.toString().endsWith(".json")).sorted().forEach(out::add);
        }
      } else {
        out.add(p);
      }
    }
    return out;
  }
}
