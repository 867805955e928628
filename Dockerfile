# One image for both roles: LATHE_ROLE=api serves the REST API, LATHE_ROLE=worker runs the engine
# (it answers health and metrics on the same port). CPU engine; see README "Operations" for GPUs.
FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY . .
RUN mvn -B -ntp -DskipTests -pl api -am package

FROM eclipse-temurin:25-jre
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/lathe lathe \
 && mkdir -p /var/lib/lathe \
 && chown lathe:lathe /var/lib/lathe
COPY --from=build /src/api/target/lathe.jar /opt/lathe/lathe.jar
USER 10001:10001
ENV LATHE_DATA_DIR=/var/lib/lathe \
    LATHE_BIND_ADDRESS=0.0.0.0 \
    LATHE_PORT=8080
VOLUME /var/lib/lathe
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD curl -fsS http://127.0.0.1:8080/actuator/health/readiness || exit 1
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/opt/lathe/lathe.jar"]
