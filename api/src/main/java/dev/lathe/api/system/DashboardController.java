package dev.lathe.api.system;

import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;

/** The admin dashboard: static files under /admin/ that call /admin/v1 with the admin key. */
@Controller
class DashboardController {

  @GetMapping("/admin")
  String slash() {
    return "redirect:/admin/";
  }

  @GetMapping("/admin/")
  String dashboard() {
    return "forward:/admin/index.html";
  }
}
