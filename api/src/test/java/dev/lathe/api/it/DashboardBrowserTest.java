package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;
import tools.jackson.databind.JsonNode;

/**
 * The admin dashboard in headless Chromium (Debian's chromium and chromium-driver): log in, create
 * a tenant, issue a key, train through the API with it, see the run, its loss chart and its
 * checkpoint with a size, diagnose its adapter (heat maps, spectrum, norm over checkpoints), delete
 * the checkpoint. Screenshots go to target/screenshots.
 */
class DashboardBrowserTest extends ApiTestBase {

  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  static final Path SHOTS = Path.of("target", "screenshots");

  WebDriver browser;
  WebDriverWait wait;

  @BeforeEach
  void open() throws Exception {
    assertThat(CHROMIUM)
        .as("headless Chromium from Debian (apt-get install chromium chromium-driver)")
        .exists();
    assertThat(CHROMEDRIVER).exists();
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments(
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600");
    ChromeDriverService service =
        new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).build();
    browser = new ChromeDriver(service, options);
    wait = new WebDriverWait(browser, Duration.ofSeconds(20));
    Files.createDirectories(SHOTS);
  }

  @AfterEach
  void close() {
    if (browser != null) {
      browser.quit();
    }
  }

  void shot(String name) throws Exception {
    Files.write(
        SHOTS.resolve(name + ".png"),
        ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
  }

  WebElement visible(By by) {
    return wait.until(ExpectedConditions.visibilityOfElementLocated(by));
  }

  @Test
  void anOperatorManagesATenantAndItsAdapterStorage() throws Exception {
    browser.get("http://127.0.0.1:" + port + "/admin");
    visible(By.id("admin-key")).sendKeys("lta-wrong");
    browser.findElement(By.id("login-button")).click();
    assertThat(visible(By.id("error")).getText()).contains("refused");
    visible(By.id("admin-key")).sendKeys(ADMIN);
    browser.findElement(By.id("login-button")).click();
    visible(By.id("new-tenant"));
    shot("1-tenants");

    String name = "browser-" + System.nanoTime();
    browser.findElement(By.id("tenant-name")).sendKeys(name);
    browser.findElement(By.id("create-tenant")).click();
    visible(By.id("issue-key")).click();
    String apiKey = visible(By.id("issued-key")).getText();
    assertThat(apiKey).startsWith("tml-");
    assertThat(browser.findElements(By.cssSelector("#keys tr[data-key]"))).hasSize(1);
    shot("2-tenant-with-key");

    // A short training loop through the API with the key the dashboard issued, probed for its KL
    // from the base model before the first step and after each.
    String model = newModel(apiKey, newSession(apiKey), 0, 8);
    int seq = 1;
    Object probe = datum("what the base model knew");
    List<Double> kl = new ArrayList<>();
    kl.add(klFromBase(apiKey, model, seq++, probe));
    for (int step = 0; step < 5; step++) {
      String fb =
          http.post(
                  apiKey,
                  "/api/v1/forward_backward",
                  forwardBackward(model, seq++, datum("the dashboard sees this")))
              .json()
              .get("request_id")
              .asString();
      String opt =
          http.post(apiKey, "/api/v1/optim_step", optimStep(model, seq++, 5e-3))
              .json()
              .get("request_id")
              .asString();
      http.result(apiKey, fb);
      http.result(apiKey, opt);
      kl.add(klFromBase(apiKey, model, seq++, probe));
      if (step == 1) {
        save(apiKey, model, seq++, "after-two-steps");
      }
    }
    assertThat(kl.getFirst()).isZero(); // B starts at zero: the adapter is the base model
    assertThat(kl.getLast()).isPositive();
    String path = save(apiKey, model, seq++, "from-browser");

    browser.navigate().refresh();
    WebElement run = visible(By.cssSelector("#runs tr[data-run='" + model + "']"));
    assertThat(run.getText()).contains("5"); // steps
    WebElement checkpoint =
        visible(By.cssSelector("#checkpoints tr[data-checkpoint='" + path + "']"));
    assertThat(checkpoint.findElement(By.className("size")).getText())
        .matches("[0-9.]+ (B|KiB|MiB)");
    assertThat(visible(By.id("usage")).getText()).contains("Tokens trained");
    shot("3-tenant-with-run-and-checkpoint");

    run.findElement(By.tagName("a")).click();
    WebElement loss = visible(By.cssSelector("#loss-chart polyline.series"));
    assertThat(loss.getAttribute("points").trim().split(" ")).hasSize(5);
    assertThat(
            browser
                .findElement(By.cssSelector("#grad-chart polyline.series"))
                .getAttribute("points")
                .split(" "))
        .hasSize(5);
    WebElement klChart = browser.findElement(By.cssSelector("#kl-chart polyline.series"));
    String[] points = klChart.getAttribute("points").trim().split(" ");
    assertThat(points).hasSize(6); // steps 0 to 5
    double lo = kl.stream().min(Double::compare).orElseThrow();
    double hi = kl.stream().max(Double::compare).orElseThrow();
    for (int i = 0; i < points.length; i++) { // the chart's 140 px from its lowest to its highest
      double y = Double.parseDouble(points[i].split(",")[1]);
      assertThat(y).isCloseTo(180 - 140 * (kl.get(i) - lo) / (hi - lo), within(0.06));
    }
    String summary = browser.findElement(By.id("run-summary")).getText();
    assertThat(summary).startsWith("5 steps").endsWith(" at step 5");
    String shown = summary.replaceAll(".*KL from the base ([0-9.]+) at step 5", "$1");
    assertThat(Double.parseDouble(shown)).isCloseTo(kl.getLast(), within(1e-4));
    shot("4-run-loss-chart");

    // Its diagnostics: the live adapter and both checkpoints, as the tenant's own API reports them.
    visible(By.id("diagnose")).click();
    long t0 = System.nanoTime();
    new WebDriverWait(browser, Duration.ofSeconds(120))
        .until(
            ExpectedConditions.textToBePresentInElementLocated(
                By.id("diagnostics-status"), "Diagnosed 3 of 3"));
    System.out.printf("diagnosed in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    assertThat(
            browser
                .findElement(By.cssSelector("#norm-chart polyline.series"))
                .getAttribute("points")
                .trim()
                .split(" "))
        .hasSize(3); // steps 2 and 5, and the live adapter at step 5
    JsonNode expected = diagnose(apiKey, Map.of("model_path", path)); // the live adapter's state
    JsonNode modules = expected.get("modules");
    List<WebElement> ranks = browser.findElements(By.cssSelector("#rank-heatmap rect.cell"));
    List<WebElement> intruders =
        browser.findElements(By.cssSelector("#intruder-heatmap rect.cell"));
    assertThat(ranks).hasSize(modules.size()).hasSize(intruders.size());
    for (JsonNode module : modules) {
      String css = "rect.cell[data-module='" + module.get("module").asString() + "']";
      assertThat(
              Double.parseDouble(
                  browser
                      .findElement(By.cssSelector("#rank-heatmap " + css))
                      .getAttribute("data-value")))
          .isCloseTo(module.get("effective_rank").asDouble(), within(1e-6));
      assertThat(
              browser
                  .findElement(By.cssSelector("#intruder-heatmap " + css))
                  .getAttribute("data-value"))
          .isEqualTo(module.get("intruder_dimensions").asString());
    }
    assertThat(ranks.stream().map(r -> r.getAttribute("fill")).distinct().count())
        .as("the effective ranks differ between modules, and so do their colours")
        .isGreaterThan(1);
    JsonNode largest = modules.get(0);
    for (JsonNode module : modules) {
      largest =
          module.get("delta_norm").asDouble() > largest.get("delta_norm").asDouble()
              ? module
              : largest;
    }
    assertThat(visible(By.id("spectrum-module")).getAttribute("value"))
        .isEqualTo(largest.get("module").asString());
    String[] spectrum =
        browser
            .findElement(By.cssSelector("#spectrum-chart polyline.series"))
            .getAttribute("points")
            .trim()
            .split(" ");
    assertThat(spectrum).hasSize(8); // rank 8: eight singular values
    assertThat(Double.parseDouble(spectrum[0].split(",")[1]))
        .as("descending: the largest is drawn highest")
        .isLessThan(Double.parseDouble(spectrum[7].split(",")[1]));
    shot("5-run-diagnostics");

    browser.navigate().back();
    WebElement delete =
        visible(By.cssSelector("#checkpoints tr[data-checkpoint='" + path + "'] button.delete"));
    delete.click();
    wait.until(ExpectedConditions.alertIsPresent())
        .dismiss(); // asked, and said no: nothing happens
    assertThat(
            browser.findElements(By.cssSelector("#checkpoints tr[data-checkpoint='" + path + "']")))
        .hasSize(1);
    visible(By.cssSelector("#checkpoints tr[data-checkpoint='" + path + "'] button.delete"))
        .click();
    wait.until(ExpectedConditions.alertIsPresent()).accept();
    wait.until(
        ExpectedConditions.numberOfElementsToBe(
            By.cssSelector("#checkpoints tr[data-checkpoint='" + path + "']"), 0));
    assertThat(
            http.get(apiKey, "/api/v1/training_runs/" + model + "/checkpoints")
                .json()
                .get("checkpoints"))
        .extracting(c -> c.get("checkpoint_id").asString())
        .containsExactly("weights/after-two-steps");
    shot("6-checkpoint-deleted");

    visible(By.linkText("Live")).click();
    WebElement workers = visible(By.id("workers"));
    assertThat(workers.getText()).contains("lathe-tiny");
    shot("7-live");
    assertThat(List.of(SHOTS.toFile().list())).contains("4-run-loss-chart.png");
  }

  /** Saves the run's weights under {@code name}; their tinker path. */
  private String save(String apiKey, String model, int seq, String name) throws Exception {
    Map<String, Object> body = Map.of("model_id", model, "seq_id", seq, "path", name);
    String id = http.post(apiKey, "/api/v1/save_weights", body).json().get("request_id").asString();
    return http.result(apiKey, id).get("path").asString();
  }

  /** The tenant's own adapter_diagnostics of a checkpoint or run. */
  private JsonNode diagnose(String apiKey, Map<String, Object> body) throws Exception {
    String id =
        http.post(apiKey, "/api/v1/adapter_diagnostics", body).json().get("request_id").asString();
    return http.result(apiKey, id);
  }

  /** Runs the forgetting probe on the run's adapter as it is now: its mean KL per token. */
  private double klFromBase(String apiKey, String model, int seq, Object datum) throws Exception {
    String id =
        http.post(apiKey, "/api/v1/forward", probe(model, seq, datum))
            .json()
            .get("request_id")
            .asString();
    return http.result(apiKey, id).get("metrics").get("kl_from_base:mean").asDouble();
  }
}
