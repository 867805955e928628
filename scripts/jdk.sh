# Sourced by run.sh, test.sh and .ci/run: exports JAVA_HOME as the newest installed JDK >= 21.
lathe_pick_jdk() {
  local best="" best_major=0 home major
  for home in "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/*; do
    [ -n "$home" ] && [ -x "$home/bin/javac" ] || continue
    major=$("$home/bin/java" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1)
    if [ -n "$major" ] && [ "$major" -ge 21 ] && [ "$major" -gt "$best_major" ]; then
      best="$home"
      best_major="$major"
    fi
  done
  if [ -z "$best" ]; then
    echo "Lathe needs a JDK >= 21 (none found in JAVA_HOME or /usr/lib/jvm)" >&2
    return 1
  fi
  export JAVA_HOME="$best"
  export PATH="$JAVA_HOME/bin:$PATH"
}
lathe_pick_jdk
