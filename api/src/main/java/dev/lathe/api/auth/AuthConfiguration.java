package dev.lathe.api.auth;

import jakarta.servlet.http.HttpServletRequest;
import java.util.List;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.MethodParameter;
import org.springframework.web.bind.support.WebDataBinderFactory;
import org.springframework.web.context.request.NativeWebRequest;
import org.springframework.web.method.support.HandlerMethodArgumentResolver;
import org.springframework.web.method.support.ModelAndViewContainer;
import org.springframework.web.servlet.config.annotation.InterceptorRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;

/** Puts the key check in front of the APIs and hands controllers their {@link Caller}. */
@Configuration(proxyBeanMethods = false)
class AuthConfiguration implements WebMvcConfigurer {

  private final AuthInterceptor interceptor;

  AuthConfiguration(AuthInterceptor interceptor) {
    this.interceptor = interceptor;
  }

  @Override
  public void addInterceptors(InterceptorRegistry registry) {
    registry
        .addInterceptor(interceptor)
        .addPathPatterns("/api/v1/**", "/admin/v1/**")
        // Health, and signed download links that carry their own authorisation.
        .excludePathPatterns("/api/v1/healthz", "/api/v1/archives/**");
  }

  @Override
  public void addArgumentResolvers(List<HandlerMethodArgumentResolver> resolvers) {
    resolvers.add(
        new HandlerMethodArgumentResolver() {
          @Override
          public boolean supportsParameter(MethodParameter p) {
            return p.getParameterType() == Caller.class;
          }

          @Override
          public Object resolveArgument(
              MethodParameter p,
              ModelAndViewContainer mav,
              NativeWebRequest req,
              WebDataBinderFactory f) {
            Object caller =
                req.getNativeRequest(HttpServletRequest.class).getAttribute(Caller.ATTRIBUTE);
            if (caller == null) {
              throw new IllegalStateException("no authenticated caller on " + p.getMethod());
            }
            return caller;
          }
        });
  }
}
